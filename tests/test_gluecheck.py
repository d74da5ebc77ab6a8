"""The glue check: un-glued measured numbers in markdown are caught, exempt ones are not."""

from __future__ import annotations

import nbformat
import pytest

from genclass_utils import gluecheck
from genclass_utils.__main__ import main as cli
from genclass_utils.errors import ConfigError, InputError


def _nb(tmp_path, *markdown, name="01_x.ipynb"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(m) for m in markdown]
    nb.cells.append(nbformat.v4.new_code_cell('glue("acc", 0.917, display=False)'))
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def _numbers(tmp_path, text, allow=()):
    return [f.number for f in gluecheck.check_notebook(_nb(tmp_path, text), list(allow))]


@pytest.mark.parametrize("text, caught", [
    ("The cGAN's label accuracy is 0.917.", ["0.917"]),
    ("It reaches 91.7% on test.", ["91.7%"]),
    ("It reaches 92 % on test.", ["92 %"]),
    ("FID fell from 1,234.56 to .85 here.", ["1,234.56", ".85"]),
    ("Inside a warning:\n\n```{warning}\nAccuracy drops to 0.12.\n```", ["0.12"]),
    ("Under a heading\n\n## Results\n\nSSIM 0.81 vs 0.74.", ["0.81", "0.74"]),
])
def test_unglued_numbers_are_caught(tmp_path, text, caught):
    assert _numbers(tmp_path, text) == caught


@pytest.mark.parametrize("text", [
    "The label accuracy is {glue:text}`acc:.3f`, or {glue:text}`acc:.1%`.",
    "Glued whole: {glue:}`acc`.",
    "Inline math $\\beta_1 = 0.99$ and $p = 12.5\\%$.",
    "Display math\n\n$$\n\\mathcal{L} = 0.25\\,x + 0.125\n$$\n",
    "Code `keras.layers.Dropout(0.25)` and ``momentum=0.99``.",
    "```python\nx = 0.123\nprint(f'{x:.1%}')\n```",
    "One digit after the point: 0.9, 2.5 and 1e-4 need no glue.",
    "Versions: TensorFlow 2.21.0 and Keras 3.15.1.",
    "A parameter value: momentum = 0.99, sigma=0.25, drop=50%.",
    "See [the paper](https://example.org/v0.123/x.pdf) {cite}`goodfellow2014gan`.",
    "```{figure} f.png\n:width: 80%\n\nA caption.\n```",
    "## Exercises\n\n1. Train with a learning rate of 0.0002 for 10% of the data.",
])
def test_exempt_numbers_pass(tmp_path, text):
    assert _numbers(tmp_path, text) == []


def test_exercise_exemption_ends_at_the_next_heading(tmp_path):
    path = _nb(tmp_path, "## Exercises\n\nUse 0.25 of the data.", "## References\n\nScore 0.75.")
    assert [f.number for f in gluecheck.check_notebook(path)] == ["0.75"]


def test_allow_list_needs_a_reason_and_reports_stale_entries(tmp_path):
    path = _nb(tmp_path, "Luma is 0.299 R + 0.587 G + 0.114 B; accuracy 0.917.")
    allow = tmp_path / "allow.toml"
    allow.write_text('[[allow]]\nnotebook = "01_x.ipynb"\ntext = "0.299 R + 0.587 G + 0.114 B"\n'
                     'reason = "the BT.601 luma weights, a standard"\n'
                     '[[allow]]\nnotebook = "01_x.ipynb"\ntext = "gone 0.55"\nreason = "old"\n')
    problems = gluecheck.check([str(path)], allow)
    assert len(problems) == 2
    assert "'0.917' is not glued" in problems[0] and "stale allow entry" in problems[1]
    allow.write_text('[[allow]]\nnotebook = "01_x.ipynb"\ntext = "0.299"\nreason = " "\n')
    with pytest.raises(ConfigError, match="needs reason"):
        gluecheck.load_allow(allow)


def test_cli_exit_codes(tmp_path, capsys):
    good = _nb(tmp_path, "Glued: {glue:text}`acc:.3f`.", name="good.ipynb")
    bad = _nb(tmp_path, "Typed: 0.917.", name="bad.ipynb")
    assert cli(["gluecheck", str(good), "--allow", str(tmp_path / "none.toml")]) == 0
    assert cli(["gluecheck", str(bad), "--allow", str(tmp_path / "none.toml")]) == 1
    assert "'0.917' is not glued" in capsys.readouterr().out
    assert cli(["gluecheck", str(tmp_path / "missing.txt")]) == 1
    assert "not a notebook" in capsys.readouterr().err
    with pytest.raises(InputError):
        gluecheck.notebooks_in([str(tmp_path / "missing.txt")])


def test_a_glued_numpy_scalar_is_reported(tmp_path):
    path = _nb(tmp_path, "Accuracy {glue:text}`acc:.1%`.")
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].outputs = [nbformat.v4.new_output(
        "display_data", data={"text/plain": "np.float64(0.917)"},
        metadata={"scrapbook": {"name": "acc", "mime_prefix": ""}})]
    nbformat.write(nb, path)
    assert "numpy scalar" in str(gluecheck.check_notebook(path)[0])
    nb.cells[-1].outputs[0]["data"]["text/plain"] = "0.917"
    nbformat.write(nb, path)
    assert gluecheck.check_notebook(path) == []
