"""`--help` without Hydra's slow path: the same two sections, with groups read from conf/.

Hydra builds its help by composing the config once per config group, which with the sweeper and
launcher plugins installed takes over a second; one composition is enough.
"""

from __future__ import annotations

from pathlib import Path

HELP_FLAGS = ("--help", "-h")


def wants_help(argv: list[str]) -> bool:
    """Plain `--help` (with or without overrides); any other flag is left to Hydra."""
    flags = [a for a in argv if a.startswith("-")]
    return bool(flags) and all(f in HELP_FLAGS for f in flags)


def group_options(conf_dir: Path, group: str) -> list[str]:
    """The options of a config group (conf/GROUP/*.yaml), sorted; none for a missing group.

    While Hydra is initialised, also those its search path adds (another config folder, a
    SearchPathPlugin): they are as usable as the files in conf/.
    """
    from hydra.core.global_hydra import GlobalHydra

    folder = conf_dir / group
    options = {p.stem for p in folder.glob("*.yaml")} if folder.is_dir() else set()
    if GlobalHydra.instance().is_initialized():
        options.update(GlobalHydra.instance().config_loader().get_group_options(group))
    return sorted(options)


def config_groups(conf_dir: Path) -> dict[str, list[str]]:
    """Every config group under conf/ (Hydra's own excepted) and its options."""
    groups = {}
    for folder in sorted(p for p in conf_dir.rglob("*") if p.is_dir()):
        group = folder.relative_to(conf_dir).as_posix()
        options = group_options(conf_dir, group)
        if options and group.split("/")[0] != "hydra":
            groups[group] = options
    return groups


def help_text(name: str, argv: list[str], conf_dir: Path) -> str:
    """What `python scripts/NAME.py [overrides] --help` prints: groups, then the config."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    overrides = [a for a in argv if not a.startswith("-")]
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3", job_name=name):
        cfg = compose(name, overrides=overrides)
        groups = "\n".join(f"{g}: {', '.join(o)}" for g, o in config_groups(conf_dir).items())
    return (
        f"{name} is powered by Hydra.\n\n"
        "== Configuration groups ==\n"
        "Compose your configuration from those groups (group=option)\n\n"
        f"{groups}\n\n\n"
        "== Config ==\n"
        "Override anything in the config (foo.bar=value)\n\n"
        f"{OmegaConf.to_yaml(cfg)}\n\n"
        "Powered by Hydra (https://hydra.cc)\n"
        "Use --hydra-help to view Hydra specific help\n\n\n"
    )
