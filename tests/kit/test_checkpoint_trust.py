"""A checkpoint cannot make trainkit run anything: the config it records builds only what this
project chose, and nothing it stores is pasted into a command trainkit suggests."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from conftest import read_summary, run_script
from test_bad_input import assert_clear_error, snapshot

from trainkit.checkpoints.trust import Trusted, trusted


def tampered(source, target, net: dict, stamp: bool = True) -> None:
    """`source` with its recorded model.net replaced by `net` (in the checkpoint's stamp, or
    with no stamp at all, in its run's .hydra/config.yaml)."""
    checkpoint = torch.load(source, weights_only=True)
    checkpoint["trainkit"]["config"]["model"]["net"] = net
    if not stamp:
        from omegaconf import OmegaConf

        config = checkpoint.pop("trainkit")["config"]
        hydra = target.parent.parent / ".hydra"
        hydra.mkdir(parents=True)
        OmegaConf.save(OmegaConf.create(config), hydra / "config.yaml")
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, target)


@pytest.fixture(scope="module")
def binary_ckpt(trained_runs):
    return trained_runs["tiny_binary"][0] / "checkpoints" / "best.ckpt"


HOSTILE = {
    "writes a file": (
        {"_target_": "pathlib.Path.write_text", "self": "{out}", "data": "x"},
        "builds pathlib.Path.write_text",
    ),
    "runs code, nested": (
        {
            "_target_": "tiny.mlp",
            "sizes": [30, 1],
            "act": {"_target_": "builtins.exec", "_args_": ["open('{out}', 'w').write('x')"]},
        },
        "builds builtins.exec",
    ),  # fmt: skip
    "a torch function, not a model class": (
        {"_target_": "torch.save", "obj": 1, "f": "{out}"},
        "builds torch.save",
    ),
    "a name a trusted package imports from elsewhere": (  # with trusted_packages=[tiny]
        {"_target_": "tiny.np.save", "_args_": ["{out}", [1, 2]]},
        "builds tiny.np.save",
    ),
    "a library dataset that downloads": (
        {"_target_": "lightning.pytorch.demos.mnist_datamodule._MNIST", "root": "{out}"},
        "builds lightning.pytorch.demos.mnist_datamodule._MNIST",
    ),
    "a target behind an interpolation": (
        "${oc.create:'{_target_: builtins.open, _args_: [{out}, w]}'}",
        "builds builtins.open",
    ),
}
# every case through eval.py, and two of the kinds through predict.py
SCRIPTS = [("eval.py", case) for case in HOSTILE] + [
    ("predict.py", "writes a file"),
    ("predict.py", "a target behind an interpolation"),
]


@pytest.mark.parametrize(("script", "case"), SCRIPTS)
def test_a_recorded_config_cannot_build_what_the_project_did_not_choose(
    tmp_path, binary_ckpt, case, script
):
    net, message = HOSTILE[case]
    out = tmp_path / "written_by_the_checkpoint"
    filled = eval(repr(net).replace("{out}", str(out)))  # the file the target would write
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    tampered(binary_ckpt, ckpt, filled, stamp=case != "writes a file")  # both places
    trust = ["trusted_packages=[tiny]"] if "trusted package" in case else []
    result = run_script(script, f"ckpt_path={ckpt}", *trust, f"hydra.run.dir={tmp_path / 'out'}")
    assert_clear_error(result, message, "Nothing was run", "trusted_packages")
    assert not out.exists()
    assert read_summary(tmp_path / "out")["status"] == "failed"


def test_trusted_packages_on_the_command_line_let_a_users_own_package_in(tmp_path, binary_ckpt):
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    net = torch.load(binary_ckpt, weights_only=True)["trainkit"]["config"]["model"]["net"]
    tampered(binary_ckpt, ckpt, {**net, "_target_": "trainkit_extra_nets.Net"})
    package = tmp_path / "lib" / "trainkit_extra_nets"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from torch import nn\nfrom tiny import mlp\n\n\n"
        "class Net(nn.Sequential):\n    def __init__(self, **kwargs):\n"
        "        super().__init__(*mlp(**kwargs))\n"
    )
    refused = run_script("eval.py", f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 'a'}")
    assert_clear_error(refused, "builds trainkit_extra_nets.Net (at model.net)")
    # the user says the package is theirs: it is imported and built

    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path / "lib"), env_path]))
    try:
        allowed = run_script(
            "eval.py",
            f"ckpt_path={ckpt}",
            "trusted_packages=[trainkit_extra_nets]",
            f"hydra.run.dir={tmp_path / 'b'}",
        )
    finally:
        os.environ["PYTHONPATH"] = env_path
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert read_summary(tmp_path / "b")["status"] == "completed"


def test_trust_rules():
    allowed = trusted([], ["tiny"])  # tests/tiny.py, as a package of the user's
    assert allowed.allows("torch.nn.Linear") and allowed.allows("torch.optim.Adam")
    assert allowed.allows("trainkit.tasks.ClassificationTask") and allowed.allows("tiny.mlp")
    assert not allowed.allows("tiny.nn.Linear")  # torch's, imported by tiny: not defined there
    src = Trusted(packages={"tiny"})  # as if tiny were a package in src/: its classes only
    assert src.allows("tiny.TinyCNN") and not src.allows("tiny.write_data")
    for target in ["torch.load", "torch.save", "builtins.open", "os.system", "shutil.rmtree",
                   "trainkit.report.summary.write_summary", "torch.hub.load", "no such",
                   "lightning.pytorch.callbacks.ModelCheckpoint", "minefield.x",
                   "torch.utils.data.TensorDataset", "trainkit.data.ArrayDataModule",
                   "torch.nn.modules.module._addindent"]:  # fmt: skip
        assert not allowed.allows(target), target
    assert Trusted(names={"builtins.print"}).allows("builtins.print")  # named in conf/


def test_a_tampered_resume_suggests_nothing_it_stores(tmp_path, trained_runs):
    source = trained_runs["tiny_binary"][0]
    run = tmp_path / "run"
    shutil.copytree(source, run)
    last = run / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    hostile = "hydra.callbacks.x._target_=os.system"
    checkpoint["trainkit"]["overrides"] = [hostile, "+experiment=$(touch /tmp/x)"]
    checkpoint["trainkit"]["experiment"] = "tiny_cnn"
    torch.save(checkpoint, last)
    before = snapshot(run)
    result = run_script(  # (an in-process run has no .hydra/: the resume gets a directory)
        "train.py",
        "+experiment=tiny_binary",
        f"ckpt_path={last}",
        f"hydra.run.dir={tmp_path / 'new'}",
    )
    assert_clear_error(result, "was written by experiment 'tiny_cnn'")
    assert "os.system" not in result.stderr and "touch" not in result.stderr
    assert snapshot(run) == before
