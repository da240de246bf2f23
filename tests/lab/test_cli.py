"""`symupdates compare` end to end: the table, the PNG, the CSV and JSON files; the same
table for the same seed; identical initial weights and fresh optimizer state for every
optimizer; the cute-dl preset's settings; argument errors reported before training."""

import contextlib
import csv
import io
import json
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytensor.tensor as pt
import pytest

from symupdates.lab import cli, datasets, training
from symupdates.lab.models import mlp

# A tiny study: 8 hidden units, 30 steps of 64 rows, validation every 10 steps.
TINY = ["--dataset", "digits", "--hidden", "8", "--batch-size", "64", "--max-steps", "30", "--validate-every", "10",
        "--target-accuracy", "0.3", "--mode", "FAST_COMPILE", "--no-progress"]  # fmt: skip
# Two that learn, one that diverges at once.
STUDY = "sgd:learning_rate=0.5,adam:learning_rate=0.01,sgd:learning_rate=1e3"


def compare(out, *args):
    """Run ``symupdates compare`` in-process; return its standard output."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert cli.main(["compare", *TINY, "--out", str(out), *args]) == 0
    return buffer.getvalue()


def table(stdout):
    """The rows of the printed table, as lists of cell texts."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in stdout.splitlines() if line.startswith("│")]


def without_times(rows):
    return [row[:-2] for row in rows]


def load(out):
    return json.loads((out / "histories.json").read_text())


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    return out, compare(out, "--optimizers", STUDY)


# --------------------------------------------------------------------------- end to end


def test_table_has_one_row_per_optimizer_and_ends_with_the_figure(study):
    out, stdout = study
    rows = table(stdout)
    summary = read_csv(out / "summary.csv")
    assert [s["optimizer"] for s in summary] == STUDY.split(",")
    assert [row[0] for row in rows] == ["sgd  lr=0.5", "adam  lr=0.01", "sgd  lr=1e3"]  # the short labels
    for row, s in zip(rows, summary, strict=True):
        label, to_target, steps, best, final, loss, stopped_by = row[:7]
        assert steps == s["steps"] and stopped_by == cli.STOP_REASONS[s["stopped"]]
        assert to_target == (s["steps_to_target"] or "—")
        assert float(best) == pytest.approx(100 * float(s["best_accuracy"]), abs=0.006)
        assert float(final) == pytest.approx(100 * float(s["final_accuracy"]), abs=0.006)
        assert (stopped_by == "diverged") == (s["diverged"] == "True")
        float(row[7]), float(row[8])  # the times are numbers
    learners, diverging = rows[:2], rows[2]
    assert [r[6] for r in learners] == ["step limit"] * 2 and [r[2] for r in learners] == ["30", "30"]
    assert diverging[6] == "diverged" and int(diverging[2]) < 30
    assert float(diverging[5]) > 100 * float(learners[0][5])  # the loss that blew up, not the last validation's
    assert all(r[1] != "—" and int(r[1]) <= 30 for r in learners)  # both reach 30% accuracy
    assert stdout.rstrip().splitlines()[-1] == f"figure: {out / 'curves.png'}"


def test_piped_output_fits_100_columns_without_escape_codes(study):
    _, stdout = study
    assert max(len(line) for line in stdout.splitlines()) <= cli.PIPED_WIDTH
    assert "\x1b" not in stdout


def test_off_a_terminal_there_are_no_bars_but_one_line_per_run(tmp_path, capsys):
    args = [a for a in TINY if a != "--no-progress"]
    assert cli.main(["compare", *args, "--out", str(tmp_path), "--optimizers", "sgd:learning_rate=0.5,adam"]) == 0
    out, err = capsys.readouterr()
    assert "\r" not in err and "step/s" not in err  # no tqdm bar in the log
    lines = [line for line in out.splitlines() if line.startswith("  ") and " steps, stopped by " in line]
    assert [line.split(":")[0].strip() for line in lines] == ["sgd", "adam"]
    assert all("stopped by step limit" in line for line in lines)


def test_png_is_a_real_image_with_one_curve_per_optimizer(study):
    out, _ = study
    image = matplotlib.image.imread(out / "curves.png")
    assert image.shape == (500, 1500, 4)  # figsize (15, 5) inches at 100 dpi
    assert image[..., :3].std() > 0.05  # not a blank canvas
    figure = load(out)["figure"]
    assert figure["path"] == "curves.png"
    assert figure["lines"] == {"training loss (EMA 0.9)": 3, "validation loss": 3, "validation accuracy": 3}


def test_csv_files_hold_every_validation_and_step(study):
    out, _ = study
    runs = {run["label"]: run for run in load(out)["runs"]}
    valid, train = read_csv(out / "valid.csv"), read_csv(out / "train.csv")
    assert list(valid[0]) == ["optimizer", "step", "epoch", "loss", "accuracy", "time"]
    for label, run in runs.items():
        rows = [r for r in valid if r["optimizer"] == label]
        history = run["history"]["valid"]
        assert [int(r["step"]) for r in rows] == history["step"]
        np.testing.assert_allclose([float(r["accuracy"]) for r in rows], history["accuracy"])
        steps = [int(r["step"]) for r in train if r["optimizer"] == label]
        assert steps == list(range(1, run["summary"]["steps"] + 1))
    assert runs["sgd:learning_rate=0.5"]["history"]["valid"]["step"] == [0, 10, 20, 30]


# --------------------------------------------------------------------------- the comparison is fair


def test_every_optimizer_starts_from_the_same_initial_weights(study):
    out, _ = study
    runs = load(out)["runs"]
    model = mlp(n_in=64, hidden=(8,), n_out=10, seed=0, dtype="float32")
    assert {run["initial_weights_sha256"] for run in runs} == {cli._fingerprint(model.params)}
    # The validation before the first update sees the same model in every run.
    first = {(run["history"]["valid"]["loss"][0], run["history"]["valid"]["accuracy"][0]) for run in runs}
    assert len(first) == 1


def test_same_command_same_seed_gives_the_same_table(study, tmp_path):
    out, stdout = study
    again = compare(tmp_path, "--optimizers", STUDY)
    assert without_times(table(again)) == without_times(table(stdout))
    assert len(table(again)) == 3
    for a, b in zip(load(out)["runs"], load(tmp_path)["runs"], strict=True):
        for key in ("loss", "accuracy", "grad_norm", "update_ratio"):
            assert a["history"]["train"][key] == b["history"]["train"][key]


def test_a_run_does_not_depend_on_the_others(study, tmp_path):
    """Adam alone equals Adam after two other optimizers: same weights, fresh state, same batches."""
    out, _ = study
    compare(tmp_path / "alone", "--optimizers", "adam:learning_rate=0.01")
    alone = load(tmp_path / "alone")["runs"][0]["history"]
    together = load(out)["runs"][1]["history"]
    for table_name in ("train", "valid"):
        for key, values in alone[table_name].items():
            if key != "time":
                assert values == together[table_name][key], (table_name, key)
    # Another seed is another model and another order of minibatches.
    compare(tmp_path / "seed1", "--optimizers", "adam:learning_rate=0.01", "--seed", "1")
    other = load(tmp_path / "seed1")["runs"][0]
    assert other["history"]["train"]["loss"] != alone["train"]["loss"]
    assert other["initial_weights_sha256"] != load(out)["runs"][1]["initial_weights_sha256"]


def idx(array):
    """The IDX encoding of a uint8 array (the MNIST file format)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def test_mnist_from_a_folder_of_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, n in (("train", 120), ("t10k", 40)):
        labels = rng.integers(0, 10, n).astype("uint8")
        images = (rng.random((n, 28, 28)) * 60).astype("uint8")
        images[np.arange(n), 2 * labels, :] = 255  # a bright row that tells the digit
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx(images))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx(labels))
    out = tmp_path / "out"
    stdout = compare(out, "--dataset", "mnist", "--data-dir", str(folder), "--optimizers", "adam:learning_rate=0.05")
    assert "mnist, 120 training and 40 validation examples; MLP 784-8-10" in stdout
    document = load(out)
    assert document["data"] == {"name": "mnist", "n_train": 120, "n_valid": 40, "n_features": 784}
    assert document["runs"][0]["summary"]["best_accuracy"] > 0.5


def test_a_dataset_that_cannot_be_loaded_is_a_clear_error(tmp_path, capsys):
    code = cli.main(["compare", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot load mnist" in err and "train-images-idx3-ubyte" in err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- settings


def resolve(*argv):
    args = cli.build_parser().parse_args(["compare", *argv])
    return cli._resolve(args)


def test_the_cute_dl_preset_has_the_write_ups_settings():
    s = resolve("--preset", "cute-dl")
    assert (s.dataset, s.hidden, s.batch_size, s.validate_every) == ("mnist", (), 64, 938)
    assert (s.patience, s.target_accuracy, s.target_times) == (20, 0.91, 20)
    got = [(spec.name, spec.hyperparams) for spec in s.specs]
    assert got == [
        ("sgd", {"learning_rate": 1e-4}),
        ("sgd", {"learning_rate": 0.2}),
        ("sgd", {"learning_rate": 0.01}),
        ("momentum", {"learning_rate": 0.002, "momentum": 0.9}),
        ("adagrad", {"learning_rate": 0.001, "epsilon": 1e-6}),
        ("rmsprop", {"learning_rate": 1e-4, "rho": 0.99, "epsilon": 1e-6}),
        ("adadelta", {"rho": 0.99, "epsilon": 1e-12}),
        ("adam", {"learning_rate": 1e-4, "beta1": 0.9, "beta2": 0.99}),
    ]


def test_explicit_options_override_the_preset_and_the_defaults():
    s = resolve("--preset", "cute-dl", "--batch-size", "32", "--optimizers", "adam", "--epochs", "3")
    assert (s.batch_size, s.validate_every, s.epochs, s.max_steps) == (32, 938, 3, None)
    assert [spec.label for spec in s.specs] == ["adam"]
    s = resolve()
    assert (s.dataset, s.hidden, s.max_steps, s.epochs) == ("digits", (64, 64), cli.DATASET_DEFAULTS["digits"]["max_steps"], None)
    assert [spec.name for spec in s.specs] == list(cli.OPTIMIZERS)
    assert str(s.out) == "out/compare-digits" and str(resolve("--preset", "cute-dl").out) == "out/compare-cute-dl"
    assert s.monitor_every == 20 and resolve("--monitor-every", "1").monitor_every == 1


def test_optimizer_lists_parse_hyperparameters_of_every_kind():
    specs = cli.parse_optimizers("adam:amsgrad=true,clip_norm=none, sgd : learning_rate=2 ,rmsprop:centered=no,momentum=0.5")
    assert [(s.name, s.hyperparams) for s in specs] == [
        ("adam", {"amsgrad": True, "clip_norm": None}),
        ("sgd", {"learning_rate": 2.0}),
        ("rmsprop", {"centered": False, "momentum": 0.5}),
    ]
    assert specs[0].label == "adam:amsgrad=true,clip_norm=none"


def test_counts_and_named_choices_parse_as_themselves():
    """Muon's ns_steps is an integer and its adjust_lr_fn a name; the rule checks both at once."""
    (spec,) = cli.parse_optimizers("muon:ns_steps=3,adjust_lr_fn=match_rms_adamw")
    assert spec.hyperparams == {"ns_steps": 3, "adjust_lr_fn": "match_rms_adamw"}
    assert cli.parse_optimizers("adafactor:epsilon1=none")[0].hyperparams == {"epsilon1": None}
    assert cli.parse_optimizers("adafactor:epsilon1=1e-30")[0].hyperparams == {"epsilon1": 1e-30}
    with pytest.raises(cli.UsageError, match=r"muon:adjust_lr_fn=rms: adjust_lr_fn must be None, 'original' or 'match_rms_adamw'"):
        cli.parse_optimizers("muon:adjust_lr_fn=rms")
    with pytest.raises(cli.UsageError, match=r"muon:ns_steps=2.5 is not an integer"):
        cli.parse_optimizers("muon:ns_steps=2.5")


def test_muon_trains_the_matrices_and_adamw_the_biases():
    """The compare command gives a rule of matrices (cli.MATRIX_RULES) the model's matrices and
    the other parameters to AdamW at its defaults, in one merged update list."""
    model = mlp(n_in=4, hidden=(3,), n_out=2, seed=0)
    X, y = pt.matrix("X"), pt.vector("y", dtype="int64")
    (spec,) = cli.parse_optimizers("muon:learning_rate=0.05")
    updates = spec.optimizer()(model.loss(X, y), list(model.params))
    owners = {name.split("/")[0]: name.split("/")[1] for name in updates.state if name.count("/") == 2}
    assert owners == {p.name: ("muon" if p.ndim == 2 else "adam") for p in model.params}  # AdamW's state is Adam's
    assert {"muon/step", "adamw/step"} <= set(updates.state)
    assert float(updates.hyperparams["learning_rate"].get_value()) == 0.05
    assert float(updates.hyperparams["learning_rate_2"].get_value()) == 1e-3  # AdamW's default
    assert {var for var, _ in updates} >= set(model.params)


# --------------------------------------------------------------------------- argument errors


@pytest.mark.parametrize(
    "args, message",
    [
        (["--optimizers", "adam,shampoo"], "unknown optimizer 'shampoo'; choose from sgd, momentum, nesterov_momentum"),
        (["--optimizers", "adam:lr=0.1"], "adam has no hyperparameter 'lr'; its hyperparameters are learning_rate, beta1"),
        (["--optimizers", "adam:learning_rate=fast"], "adam:learning_rate=fast is not a number"),
        (["--optimizers", "adam:amsgrad=maybe"], "adam:amsgrad=maybe must be true or false"),
        (["--optimizers", "adam:learning_rate=-1"], "adam:learning_rate=-1: learning_rate"),
        (["--optimizers", "learning_rate=0.1,adam"], "'learning_rate=0.1' must follow an optimizer name"),
        (["--optimizers", "adam,,sgd"], "empty entry"),
        (["--optimizers", "adam,adam"], "adam is listed twice"),
        (["--optimizers", "adam:learning_rate=0.1,learning_rate=0.2"], "adam is given learning_rate twice"),
        (["--data-dir", "somewhere"], "--data-dir is read only with --dataset mnist"),
        (["--mode", "TURBO"], "--mode 'TURBO' is not a PyTensor compile mode; choose from"),
        (["--target-accuracy", "91"], "must be a fraction in (0, 1]"),
        (["--hidden", "64,x"], "is not a list of layer widths"),
        (["--batch-size", "0"], "must be a positive integer"),
        (["--monitor-every", "0"], "must be a positive integer"),
        (["--tune-range", "1..0.1"], "is not a range LOW..HIGH with 0 < LOW < HIGH"),
        (["--seeds", "0"], "must be a positive integer"),
        (["--dataset", "cifar"], "invalid choice: 'cifar'"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v),
)
def test_argument_errors_exit_with_a_clear_message_before_training(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", "--out", str(tmp_path / "out"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage: symupdates compare" in err
    assert not (tmp_path / "out").exists()


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "symupdates", "compare", "--optimizers", "shampoo"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "unknown optimizer 'shampoo'" in done.stderr
    assert cli.main([]) == 2  # no command: the help, and a usage exit code


@pytest.mark.parametrize(
    ("part", "label"), [("train", 10), ("valid", 10**9), ("train", -1)], ids=["train-n_classes", "valid-huge", "train-negative"]
)
def test_labels_outside_the_datasets_classes_are_an_error_before_training(part, label, tmp_path, capsys, monkeypatch):
    """The model has n_out = n_classes; a label outside [0, n_classes) would read outside
    the logits under Numba (or wrap, if negative): the study stops before any training."""
    digits = datasets.load_digits(seed=0, dtype="float32")
    X, y = getattr(digits, part)
    y = y.copy()
    y[5] = label
    monkeypatch.setattr(cli, "_load_data", lambda s: digits._replace(**{part: (X, y)}))

    def no_fit(*args, **kwargs):
        raise AssertionError("trained on bad labels")

    monkeypatch.setattr(training, "fit", no_fit)
    assert cli.main(["compare", *TINY, "--out", str(tmp_path / "out"), "--optimizers", "adam"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("symupdates compare: error: ")
    assert (f"digits.{part}[1] (y) holds label {label} at index 5; labels must be in [0, 10) "
            f"for a dataset with n_classes=10; relabel them as 0..9") in err  # fmt: skip
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match=rf"holds label {label} at index 5"):  # the study's own entry
        next(cli.run_study(cli._resolve(cli.build_parser().parse_args(["compare", *TINY])), cli._load_data(None)))


# --------------------------------------------------------------------------- --tune and --seeds


def test_tune_gives_every_rule_the_same_budget_and_trains_with_its_best_rate(tmp_path):
    stdout = compare(tmp_path, "--optimizers", "sgd,adam", "--tune", "4", "--tune-range", "1e-4..1")
    runs = load(tmp_path)["runs"]
    assert load(tmp_path)["settings"]["tune"] == 4
    for run in runs:
        trials = run["tuning"]["trials"]
        assert len(trials) == 4 and all(1e-4 <= t["learning_rate"] <= 1 for t in trials)
        complete = [t for t in trials if t["state"] == "complete"]
        best = min(complete, key=lambda t: t["value"])
        assert run["tuning"]["best_learning_rate"] == best["learning_rate"]
        # the final run trains with the best rate (3 significant digits), from the first seed
        assert run["hyperparams"]["learning_rate"] == float(f"{best['learning_rate']:.3g}")
        assert run["label"].endswith(f"learning_rate={best['learning_rate']:.3g}")
        assert f"{run['optimizer']}: learning rate {best['learning_rate']:.3g}" in stdout
    # each rule draws its own rates, reproducibly
    assert [t["learning_rate"] for t in runs[0]["tuning"]["trials"]] != [t["learning_rate"] for t in runs[1]["tuning"]["trials"]]
    again = tmp_path / "again"
    compare(again, "--optimizers", "sgd,adam", "--tune", "4", "--tune-range", "1e-4..1")
    assert [r["tuning"] for r in load(again)["runs"]] == [r["tuning"] for r in runs]


def test_seeds_repeat_each_run_and_the_table_shows_mean_and_sd(tmp_path):
    stdout = compare(tmp_path, "--optimizers", "sgd:learning_rate=0.5", "--seeds", "3")
    [run] = load(tmp_path)["runs"]
    repeats = run["repeats"]
    assert len(repeats) == 3
    finals = [r["valid"]["accuracy"][-1] for r in repeats]
    assert len(set(finals)) == 3  # other weights, other minibatches
    assert run["summary"]["final_accuracy"] == pytest.approx(np.mean(finals))
    assert run["summary"]["std"]["final_accuracy"] == pytest.approx(np.std(finals, ddof=1))
    row = table(stdout)[0]  # the row's first line (the label may wrap onto a second)
    assert row[4] == f"{100 * np.mean(finals):.1f}±{100 * np.std(finals, ddof=1):.1f}"
    assert all(len(line) <= cli.PIPED_WIDTH for line in stdout.splitlines())
    assert row[0].startswith("sgd") and row[2] == "30" and row[6] == "step limit"  # equal over the seeds: no ±
    assert "mean ± sd over 3 seeds" in " ".join(stdout.split())  # the title may wrap
    # seed 0 of the repeats is the run a single seed gives
    single = tmp_path / "single"
    compare(single, "--optimizers", "sgd:learning_rate=0.5")
    mine, theirs = load(single)["runs"][0]["history"]["valid"], repeats[0]["valid"]
    assert {k: v for k, v in mine.items() if k != "time"} == {k: v for k, v in theirs.items() if k != "time"}


def test_tune_and_seeds_together_retrain_each_rules_best_rate_with_every_seed(tmp_path):
    """``--tune N --seeds K``, the fair comparison: N trials of each rule's learning rate,
    then K seeds of its best; the table shows mean ± sd and the figure has bands."""
    stdout = compare(tmp_path, "--optimizers", "sgd,adam", "--tune", "3", "--tune-range", "1e-3..1", "--seeds", "2")
    runs = load(tmp_path)["runs"]
    for run in runs:
        assert len(run["tuning"]["trials"]) == 3 and len(run["repeats"]) == 2
        rate = float(f"{run['tuning']['best_learning_rate']:.3g}")
        assert run["hyperparams"]["learning_rate"] == rate
        assert [r["meta"]["seed"] for r in run["repeats"]] == [0, 1]
        finals = [r["valid"]["accuracy"][-1] for r in run["repeats"]]
        assert run["summary"]["final_accuracy"] == pytest.approx(np.mean(finals))
    rows = [row for row in table(stdout) if row[0].startswith(("sgd", "adam"))]
    assert len(rows) == 2 and all("±" in row[4] for row in rows)
    assert "mean ± sd over 2 seeds" in " ".join(stdout.split())
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_the_figure_of_repeated_runs_draws_the_mean_and_a_band(tmp_path):
    from symupdates.lab.history import History
    from symupdates.lab.plotting import plot_histories

    repeats = []
    for offset in (0.0, 0.1, 0.2):
        h = History({"name": "r"})
        for step in range(0, 50, 10):
            h.record_valid(step=step, epoch=0, loss=1.0 + offset, accuracy=0.5 + offset, time=0.0)
        repeats.append(h)
    fig = plot_histories({"r": repeats[0]}, bands={"r": repeats})
    line = fig.axes[2].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), 0.6)  # the mean
    [band] = fig.axes[2].collections
    ys = band.get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([ys.min(), ys.max()], [0.5, 0.7])  # ± one sd (0.1)
    with pytest.raises(ValueError, match="bands has 'x', which is not a run's label"):
        plot_histories({"r": repeats[0]}, bands={"x": repeats})
