"""The doctor's fixes as overrides valid for the run's own config and command line: every try,
appended to the run's overrides, composes with the real conf/ to the fixed values, and the
command is the run's own with the best try applied."""

from __future__ import annotations

import shlex

import pytest
import yaml
from conftest import CONF, run_script
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import OmegaConf

from trainkit.run.advice import RunAdvisor

BINARY = ["+experiment=tiny_binary"]
EARLY_STOPPING = {
    "_target_": "trainkit.callbacks.EarlyStopping",
    "monitor": "val/acc",
    "mode": "max",
    "patience": 5,
    "min_delta": 0.0,
}


def composed(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides)


def advise(overrides: list[str], fixes: list[dict]) -> tuple[list[str], str | None]:
    """The advice for a run of these overrides, from its real composed config."""
    return RunAdvisor(composed(overrides), overrides, conf_dir=CONF)(fixes)


def split(tried: str) -> list[str]:
    """A try's overrides: space-separated (in these tests no value holds a space)."""
    return tried.split(" ")


def args(command: str) -> list[str]:
    """The overrides of a command, as the shell hands them to the script."""
    words = shlex.split(command)
    assert words[:2] == ["python", "scripts/train.py"], command
    return words[2:]


def value(cfg, key: str):
    node = OmegaConf.select(cfg, key)
    return OmegaConf.to_container(node) if OmegaConf.is_config(node) else node


def test_an_existing_key_is_set_with_four_digits() -> None:
    tries, command = advise(BINARY, [{"model.optimizer.lr": 0.000123456}, {"seed": 7}])
    assert tries == ["model.optimizer.lr=0.0001235", "seed=7"]
    assert command == "python scripts/train.py +experiment=tiny_binary model.optimizer.lr=0.0001235"
    assert composed([*BINARY, *split(tries[0])]).model.optimizer.lr == 0.0001235
    assert advise(BINARY, [{"model.optimizer.lr": 1e-5}])[0] == ["model.optimizer.lr=1e-05"]


def test_a_key_on_the_command_line_is_replaced_in_place() -> None:
    run = [*BINARY, "model.optimizer.lr=1e-9", "+model.optimizer.amsgrad=false", "seed=3"]
    tries, command = advise(run, [{"model.optimizer.lr": 0.001, "model.optimizer.amsgrad": True}])
    assert tries == ["model.optimizer.lr=0.001 model.optimizer.amsgrad=true"]
    # replaced where it stood, the + of a key the run added kept: no key twice
    assert args(command) == [
        *BINARY,
        "model.optimizer.lr=0.001",
        "+model.optimizer.amsgrad=true",
        "seed=3",
    ]
    for overrides in ([*run, *split(tries[0])], args(command)):
        cfg = composed(overrides)
        assert (cfg.model.optimizer.lr, cfg.model.optimizer.amsgrad, cfg.seed) == (0.001, True, 3)


def test_an_absent_key_is_added_only_when_the_target_takes_it() -> None:
    # model.optimizer is a partial torch.optim.Adam: it takes amsgrad, not momentum
    fixes = [{"model.optimizer.momentum": 0.5}, {"model.optimizer.amsgrad": True}]
    tries, command = advise(BINARY, fixes)
    assert tries == ["+model.optimizer.amsgrad=true"]
    assert args(command) == [*BINARY, "+model.optimizer.amsgrad=true"]
    assert composed([*BINARY, *tries]).model.optimizer.amsgrad is True
    # SGD's config has momentum (set, not added); SGD takes no amsgrad
    sgd = [*BINARY, "model/optimizer=sgd"]
    assert advise(sgd, fixes) == (
        ["model.optimizer.momentum=0.5"],
        "python scripts/train.py +experiment=tiny_binary model/optimizer=sgd "
        "model.optimizer.momentum=0.5",
    )


def test_csv_data_takes_what_its_base_module_takes() -> None:
    # CsvDataModule passes **kwargs on to InMemoryDataModule: standardize_target is taken there,
    # momentum nowhere
    run = [*BINARY, "data=csv", "data.path=table.csv", "data.num_features=4"]
    had = "standardize_target" in composed(run).data
    tries, _ = advise(run, [{"data.momentum": 0.9}, {"data.standardize_target": True}])
    assert tries == [f"{'' if had else '+'}data.standardize_target=true"]
    assert composed([*run, *tries]).data.standardize_target is True


@pytest.mark.parametrize(
    "switch_off", ["callbacks.early_stopping=null", "~callbacks.early_stopping"]
)
def test_a_switched_off_node_comes_back_whole(switch_off: str) -> None:
    run = [*BINARY, "monitor=val/acc", "monitor_mode=max", switch_off, "seed=3"]
    tries, command = advise(run, [{"callbacks.early_stopping.patience": 5}])
    plus = "+" if switch_off.startswith("~") else ""
    node = (
        "{_target_:trainkit.callbacks.EarlyStopping,"
        "monitor:val/acc,mode:max,patience:5,min_delta:0.0}"
    )
    assert tries == [f"{plus}callbacks.early_stopping={node}"]
    # Hydra reads the dict override back as the node: the run's monitor, the new patience
    parsed = OverridesParser.create().parse_override(tries[0])
    assert parsed.value() == EARLY_STOPPING
    # the command no longer switches it off; the dict takes the switch's place
    assert args(command) == [*run[:3], f"callbacks.early_stopping={node}", "seed=3"]
    for overrides in ([*run, tries[0]], args(command)):
        cfg = composed(overrides)
        assert value(cfg, "callbacks.early_stopping") == EARLY_STOPPING
        assert instantiate(cfg.callbacks.early_stopping).patience == 5


def test_a_nulled_node_takes_several_keys_in_one_override() -> None:
    run = [*BINARY, "model.scheduler=null"]
    fix = {"model.scheduler.patience": 2, "model.scheduler.factor": 0.25, "seed": 1}
    tries, command = advise(run, [fix])
    assert len(tries) == 1 and tries[0].count("model.scheduler=") == 1
    cfg = composed([*run, *split(tries[0])])
    assert value(cfg, "model.scheduler") == {
        "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "_partial_": True,
        "mode": "min",
        "factor": 0.25,
        "patience": 2,
    }
    assert "model.scheduler=null" not in args(command)
    assert value(composed(args(command)), "model.scheduler.patience") == 2


def test_run_dir_and_checkpoint_stay_out_of_the_command(tmp_path) -> None:
    run = [
        *BINARY,
        f"hydra.run.dir={tmp_path / 'run'}",
        f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}",
        "hydra.job.chdir=false",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]
    tries, command = advise(run, [{"trainer.max_epochs": 9}])
    assert tries == ["trainer.max_epochs=9"]
    assert args(command) == [*BINARY, f"paths.log_dir={tmp_path / 'logs'}", "trainer.max_epochs=9"]


def test_fixes_that_cannot_be_valid_are_dropped() -> None:
    impossible = [
        {"no_such_node.key": 1},  # nothing to add it to
        {"seed.value": 1},  # below a number
        {"model.pos_weight.value": 2.0},  # null in the config files: no node to rebuild
        {"model.optimizer.momentum": 0.9},  # Adam takes no momentum
        {"model.optimizer.lr": 0.01, "model.net.no_such_arg": 3},  # one key spoils the fix
    ]
    assert advise(BINARY, impossible) == ([], None)
    # the valid ones keep their order, once each
    tries, command = advise(
        BINARY, [*impossible, {"seed": 5}, {"model.optimizer.lr": 0.1}, {"seed": 5}]
    )
    assert tries == ["seed=5", "model.optimizer.lr=0.1"]
    assert args(command) == [*BINARY, "seed=5"]


def test_values_come_back_as_written() -> None:
    text = "a:b, c's {x} \\ end"
    fixes = [{"model.class_weights": text}, {"data.class_fraction": {1: 0.25}}]
    tries, command = advise(BINARY, fixes)
    assert tries[0] == "model.class_weights='a:b, c\\'s {x} \\ end'"  # quoted for Hydra only
    assert composed([*BINARY, tries[0]]).model.class_weights == text
    assert composed(args(command)).model.class_weights == text
    assert value(composed([*BINARY, tries[1]]), "data.class_fraction") == {1: 0.25}
    # composes, but to another value: Hydra reads the key back as the number 1
    assert advise(BINARY, [{"data.class_fraction": {"1": 0.25}}]) == ([], None)
    # `experiment=...` would pick a config of the experiment group, not set the name
    assert advise(BINARY, [{"experiment": "renamed"}]) == ([], None)


def test_inside_a_running_app_its_own_config_search_is_used() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=BINARY)
        # no conf_dir to fall back on: the initialised Hydra composes
        advisor = RunAdvisor(cfg, BINARY, conf_dir=CONF / "no_such_folder")
        assert advisor([{"trainer.max_epochs": 4}])[0] == ["trainer.max_epochs=4"]
    assert RunAdvisor(cfg, BINARY, conf_dir=CONF / "no_such_folder")([{"seed": 1}]) == ([], None)


def test_the_command_runs_with_the_fix() -> None:
    run = [*BINARY, "callbacks.early_stopping=null", "model.optimizer.lr=1e-9"]
    fix = {"callbacks.early_stopping.patience": 5, "model.optimizer.lr": 0.001}
    _, command = advise(run, [fix])
    result = run_script("train.py", *args(command), "--cfg", "job", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    job = yaml.safe_load(result.stdout)
    assert job["callbacks"]["early_stopping"]["patience"] == 5
    assert job["callbacks"]["early_stopping"]["monitor"] == "val/loss"
    assert job["model"]["optimizer"]["lr"] == 0.001


def test_a_fix_already_in_place_is_no_fix() -> None:
    tries, _ = advise([*BINARY, "model.optimizer.lr=0.001"], [{"model.optimizer.lr": 0.001}])
    assert tries == []


def test_a_rate_fix_turns_the_lr_finder_off_that_would_replace_it() -> None:
    tries, command = advise([*BINARY, "tune.lr_find=true"], [{"model.optimizer.lr": 0.001}])
    assert tries == ["model.optimizer.lr=0.001 tune.lr_find=false"]
    assert "tune.lr_find=true" not in command and "tune.lr_find=false" in command


def test_a_search_job_gets_the_command_of_one_run() -> None:
    tries, command = advise(
        [*BINARY, "hparams_search=mlp_optuna", "model.optimizer.lr=0.5"],
        [{"model.optimizer.lr": 0.001}],
    )
    assert tries == ["model.optimizer.lr=0.001"]
    assert "hparams_search" not in command and "model.optimizer.lr=0.001" in command


def test_no_command_without_the_command_line() -> None:
    overrides = [*BINARY, "model.optimizer.lr=0.5"]
    advisor = RunAdvisor(composed(overrides), BINARY, conf_dir=CONF, command_line=False)
    tries, command = advisor([{"model.optimizer.lr": 0.001}])
    assert tries == ["model.optimizer.lr=0.001"] and command is None
