import pickle

from vpnet.data.types import DataError


def test_data_error_names_file_and_survives_pickling():
    err = DataError("/data/x.skeleton", "line 3: expected 12 numbers, got 11")
    assert str(err) == "/data/x.skeleton: line 3: expected 12 numbers, got 11"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is DataError and back.path == err.path and back.problem == err.problem
    assert str(back) == str(err)
    assert str(DataError(None, "no path")) == "no path"
