import jax

# The reference potential and the physics checks run in float64; models choose their own dtype.
jax.config.update("jax_enable_x64", True)
