"""Checks of the workflow configuration, run when Snakemake parses the workflow. No JAX import here.

Every check raises :class:`ConfigError` with a message of a few lines that names the file or the key:

- :func:`load_yaml`: YAML with duplicate keys refused and syntax errors located (file, line, column);
- :func:`check_finite`: no NaN or infinity anywhere;
- :func:`validate`: a (sub)config against a JSON schema, the first error by its key path, defaults filled in;
- :func:`check_workflow`: what the schema cannot express (experimental temperatures, the dataset split, model
  references, figure lists, each model's overrides merged with the shared sections).
"""
import math
from pathlib import Path

import yaml

from tifusion.training.settings import model_dft_settings


class ConfigError(ValueError):
    """A configuration error, with the key (or file and line) it concerns."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys in a mapping (YAML itself keeps the last one silently)."""


def _mapping_without_duplicates(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"{node.start_mark.name}, line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                              f"(first at line {seen[key] + 1})")
        seen[key] = key_node.start_mark.line
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=deep))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load_yaml(path):
    """The mapping in a YAML file; a :class:`ConfigError` naming the file and line for duplicate keys or bad syntax."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: {err.problem or err}") from None
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, not a {type(data).__name__}")
    return data


def check_files(paths):
    """:func:`load_yaml` every config file (duplicate keys, syntax); returns nothing."""
    for path in paths:
        load_yaml(path)


def key_path(parts):
    return ".".join(str(p) for p in parts) or "(top level)"


def check_finite(data, prefix=()):
    """ConfigError naming the first key whose value is NaN or infinite (YAML .nan, .inf)."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config {key_path((*prefix, key))}: {value} is not a finite number")
        check_finite(value, (*prefix, key))


def validate(data, schema, root_schema=None, prefix=(), what="config"):
    """Validate ``data`` against ``schema`` (a (sub)schema of ``root_schema`` for $ref) and fill in its defaults.

    Raises :class:`ConfigError` with the key path and a short reason for the most relevant error.
    """
    import jsonschema

    root_schema = root_schema if root_schema is not None else schema
    resolver_schema = dict(schema)
    if "$defs" in root_schema and "$defs" not in resolver_schema:
        resolver_schema["$defs"] = root_schema["$defs"]
    validator = _defaulting(jsonschema.Draft202012Validator)(resolver_schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise ConfigError(f"{what} {key_path((*prefix, *error.absolute_path))}: {_short(error)}")


def _short(error):
    """The reason of a jsonschema error without the offending instance's whole text."""
    if error.validator == "additionalProperties":
        unexpected = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"unknown key{'s' if len(unexpected) > 1 else ''} {', '.join(map(repr, unexpected))} (allowed: {allowed})"
    if error.validator == "required":
        return error.message
    if error.validator in ("type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems",
                           "maxItems"):
        shown = repr(error.instance)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        expected = error.validator_value
        return f"{shown} is not valid ({error.validator} {expected!r})"
    message = error.message
    return message if len(message) <= 200 else message[:197] + "..."


def _defaulting(validator_class):
    """A validator class that also sets the schema's defaults of missing properties (as snakemake.utils.validate)."""
    import jsonschema

    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = subschema["default"]
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def check_workflow(config, schema, experiment_temperatures, training_configurations):
    """What the schema cannot check, each as a :class:`ConfigError` naming the key.

    ``experiment_temperatures``: the rows (K) of the experimental hcp table; ``training_configurations``: the size
    of the DFT training split (None if unknown).
    """
    check_finite(config)
    split = config["dataset"].get("split", {})
    if split.get("train", 0.7) + split.get("validation", 0.1) >= 1:
        raise ConfigError(f"config dataset.split: train {split.get('train')} + validation {split.get('validation')} "
                          "leave no test configurations (their sum must be below 1)")
    models = config["models"]
    available = {float(t) for t in experiment_temperatures}

    def check_temperatures(temperatures, key):
        missing = [t for t in temperatures if float(t) not in available]
        if missing:
            raise ConfigError(f"config {key}: {missing} K not in the experimental table (its temperatures: "
                              f"{', '.join(f'{t:g}' for t in sorted(available))})")

    def check_batch(trainer, key):
        if training_configurations is not None and trainer["batch_size"] > training_configurations:
            raise ConfigError(f"config {key}.batch_size: {trainer['batch_size']} exceeds the "
                              f"{training_configurations} configurations of the training split")

    check_batch(config["dft_pretraining"]["trainer"], "dft_pretraining.trainer")
    for name, entry in models.items():
        if "init" in entry and entry["init"] not in models:
            raise ConfigError(f"config models.{name}.init: {entry['init']!r} is not a model (models: "
                              f"{', '.join(models)})")
        if "schedule" not in entry:
            continue
        check_temperatures(entry["temperatures_K"], f"models.{name}.temperatures_K")
        if "exp" in entry["schedule"] and "exp_training" not in config:
            raise ConfigError(f"config models.{name}: an EXP schedule needs the exp_training section")
        if "exp" in entry["schedule"] and entry["exp_recipe"] not in config.get("exp_recipes", {}):
            raise ConfigError(f"config models.{name}.exp_recipe: {entry['exp_recipe']!r} is not a recipe of "
                              f"exp_recipes ({', '.join(config.get('exp_recipes', {}))})")
        if "dft" in entry["schedule"]:
            dft = model_dft_settings(config, entry)
            validate(dft, schema["$defs"]["dft_trainer"], schema, ("models", name, "dft_trainer"),
                     what="config (with dft_pretraining.trainer)")
            check_batch(dft, f"models.{name}.dft_trainer")
    for name, recipe in config.get("exp_recipes", {}).items():
        optimizer = recipe["optimizer"]
        if optimizer["method"] == "gauss_newton" and ("residual_fraction" in optimizer) == ("step_bound" in optimizer):
            raise ConfigError(f"config exp_recipes.{name}.optimizer: a gauss_newton step needs exactly one of "
                              "residual_fraction and step_bound")
    properties = config.get("properties", {})
    for key in ("hcp_elastic", "lattice_temperature"):
        if key in properties:
            check_temperatures(properties[key]["temperatures_K"], f"properties.{key}.temperatures_K")
    if "lattice_pressure" in properties:
        check_temperatures([properties["lattice_pressure"]["initial_cell_K"]], "properties.lattice_pressure.initial_cell_K")
    for figure, section in config.get("figures", {}).items():
        listed = section.get("models") or list(section.get("paper_models", {}))
        unknown = [m for m in listed if m not in models]
        if unknown:
            raise ConfigError(f"config figures.{figure}: {unknown} are not models (models: {', '.join(models)})")


def key_reference(schema):
    """Markdown tables of every config key (path, type or allowed values, default, description), from the schema:
    the single source of the key documentation in config/README.md (``python -m tifusion.config``)."""
    sections = {}

    def walk(node, path, section):
        node = _resolve(node, schema)
        if "oneOf" in node:
            for branch in node["oneOf"]:
                walk(branch, path, section)
            return
        properties = node.get("properties")
        if properties and path:
            described = node.get("description")
            if described and len(path) > 1:
                sections.setdefault(section, []).append((".".join(path), "object", "", described))
        for name, sub in (properties or {}).items():
            top = _resolve(sub, schema)
            walk(sub, (*path, name), section or (name if "properties" in top or "additionalProperties" in top
                                                 else "top level"))
        additional = node.get("additionalProperties")
        if isinstance(additional, dict):
            walk(additional, (*path, "<name>"), section)
        if not properties and not isinstance(additional, dict) and path:
            sections.setdefault(section, []).append((".".join(path), _kind(node), _default(node),
                                                     node.get("description", "")))

    walk(schema, (), None)
    lines = []
    for section, rows in sections.items():
        described = "" if section == "top level" else _resolve(schema["properties"][section], schema).get(
            "description", "")
        title = "Top level" if section == "top level" else f"`{section}`"
        lines += [f"### {title}" + (f": {described}" if described else ""), "",
                  "| key | type | default | meaning |", "|---|---|---|---|"]
        seen = set()
        for key, kind, default, description in rows:
            if key in seen:
                continue
            seen.add(key)
            lines.append(f"| `{key}` | {kind} | {default} | {description} |")
        lines.append("")
    return "\n".join(lines)


def _resolve(node, schema):
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _kind(node):
    if "enum" in node:
        return " / ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    kind = node.get("type", "")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array" and "items" in node:
        kind = f"list of {node['items'].get('type', 'value')}"
    return kind


def _default(node):
    if "default" not in node:
        return ""
    text = f"{node['default']}"
    return f"`{text}`" if len(text) <= 40 else "(see the schema)"


def undocumented_keys(schema):
    """Key paths of the schema without a description (each key must have one)."""
    missing = []

    def walk(node, path):
        node = _resolve(node, schema)
        for branch in node.get("oneOf", ()):
            walk(branch, path)
        for name, sub in (node.get("properties") or {}).items():
            resolved = _resolve(sub, schema)
            if not resolved.get("description") and not sub.get("description"):
                missing.append(".".join((*path, name)))
            walk(sub, (*path, name))
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], (*path, "<name>"))

    walk(schema, ())
    return sorted(set(missing))


if __name__ == "__main__":  # print the key tables of config/README.md
    print(key_reference(load_yaml(Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml")))
