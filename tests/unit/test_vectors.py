"""The committed known-answer vectors are exactly what hashlib computes."""

import importlib.util
import pathlib

HERE = pathlib.Path(__file__).parents[1] / "vectors"


def test_committed_vectors_equal_hashlib_output():
    spec = importlib.util.spec_from_file_location(
        "make_vectors", HERE / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (HERE / "digests.json").read_text() == module.render()
