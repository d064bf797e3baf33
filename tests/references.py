"""Independent references for reported numbers: scikit-learn metrics and hand-written losses on
the best checkpoint's predictions, computed without Lightning."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from sklearn import metrics as skm


def best_predictions(run_dir: Path, cfg) -> tuple[dict, object]:
    """The best checkpoint's raw outputs on each split, computed here without Lightning.

    Returns ({split: (outputs, targets)}, the set-up data module).
    """
    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    model = instantiate(cfg.model)
    state = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["state_dict"])
    model.eval()
    with torch.no_grad():
        outputs = {s: (model.net(x), y) for s, (x, y) in datamodule.splits.items()}
    return outputs, datamodule


def reference_classification(out: torch.Tensor, y: torch.Tensor, binary: bool) -> dict:
    """loss, acc, precision, recall, f1 (binary: of class 1; else macro) from raw logits."""
    y_np = y.numpy()
    if binary:
        z = out.reshape(-1)
        loss = -(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)).mean()
        pred = (torch.sigmoid(z) > 0.5).long().numpy()
        average = "binary"
    else:
        loss = -out.log_softmax(dim=1)[torch.arange(len(y)), y].mean()
        pred = out.argmax(dim=1).numpy()
        average = "macro"
    kw = {"average": average, "zero_division": 0}
    return {
        "loss": float(loss),
        "acc": skm.accuracy_score(y_np, pred),
        "precision": skm.precision_score(y_np, pred, **kw),
        "recall": skm.recall_score(y_np, pred, **kw),
        "f1": skm.f1_score(y_np, pred, **kw),
    }


def reference_confusion(out: torch.Tensor, y: torch.Tensor) -> list[list[int]]:
    """The confusion matrix of raw logits (one logit: binary), rows = true class."""
    binary = out.ndim == 1 or out.shape[1] == 1
    pred = (out.reshape(-1) > 0).long() if binary else out.argmax(dim=1)
    labels = list(range(2 if binary else out.shape[1]))
    return skm.confusion_matrix(y.numpy(), pred.numpy(), labels=labels).tolist()


def reference_regression(out: torch.Tensor, y: torch.Tensor, mean: float, std: float) -> dict:
    """Loss on the standardised target the model trains on; mse, mae, r2 in the target's units."""
    o, t = (out.numpy() * std + mean).ravel(), (y.numpy() * std + mean).ravel()
    return {
        "loss": float(((out - y) ** 2).mean()),
        "mse": skm.mean_squared_error(t, o),
        "mae": skm.mean_absolute_error(t, o),
        "r2": skm.r2_score(t, o),
    }
