"""Rule static_elastic: 0 K relaxed-ion hcp elastic constants per model, the teacher's and experiment's."""
from tifusion import runtime
from tifusion.properties.tables import write_static_elastic

runtime.start_job(snakemake)
write_static_elastic(dict(zip(snakemake.params.models, snakemake.input.models)), snakemake.params.labels,
                     snakemake.output.table, teacher=snakemake.params.teacher)
