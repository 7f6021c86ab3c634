"""CPU test of tests/record_gpu_run.py: what a GPU run's JUnit file does to gpu_verified.txt and gpu_durations.txt.

A pass records the example's fingerprint, a failure removes its entry, a run stopped by COOKBOOK_TIMEOUT_CAP before
the example's own `# timeout:` keeps it (it did not finish, it did not fail), and the nameless entries that
pytest-xdist writes for an interrupted run are no tests at all.
"""
import record_gpu_run

PASSED, FAILED, CUT, LONG = ("02-API/Builder", "02-API/CudaEngine", "02-API/Layer/ActivationLayer",
                             "08-Advance/Performance")  # LONG: `# timeout: 1200`, stopped at 1000 s: not a failure


def junit(tmp_path):
    text = f"""<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_examples_gpu" name="test_example_on_gpu[{PASSED}]" time="43.5">
  <properties><property name="lock_wait_s" value="3.5"/></properties></testcase>
<testcase classname="tests.test_examples_gpu" name="test_example_on_gpu[{FAILED}]" time="20.0">
  <failure message="AssertionError: a check failed">...</failure></testcase>
<testcase classname="tests.test_examples_gpu" name="test_example_on_gpu[{CUT}]" time="400.2">
  <failure message="AssertionError: command.sh ran past 400 s&#10;  --- output tail">...</failure></testcase>
<testcase classname="tests.test_examples_gpu" name="test_example_on_gpu[{LONG}]" time="1000.1">
  <failure message="AssertionError: command.sh ran past 1000 s">...</failure></testcase>
<testcase time="0.001"/>
</testsuite></testsuites>"""
    path = tmp_path / "junit.xml"
    path.write_text(text)
    return path


def test_record_gpu_run(tmp_path, monkeypatch, capsys):
    state = {"verified": {FAILED: "old", CUT: "old", PASSED: "old"}, "durations": {}}
    monkeypatch.setattr(record_gpu_run, "read_verified", lambda: dict(state["verified"]))
    monkeypatch.setattr(record_gpu_run, "write_verified", lambda entries: state.update(verified=entries))
    monkeypatch.setattr(record_gpu_run, "read_durations", lambda: {})
    monkeypatch.setattr(record_gpu_run, "write_durations", lambda durations: state.update(durations=durations))
    monkeypatch.setattr(record_gpu_run, "fingerprint", lambda example: "new")
    record_gpu_run.main([str(junit(tmp_path))])
    assert "1 passed, 1 failed, 0 skipped, 2 not finished" in capsys.readouterr().out
    assert state["verified"] == {PASSED: "new", CUT: "old"}  # the failure lost its entry; the cut one kept it
    assert state["durations"][PASSED] == 40.0  # without its wait for the GPU
    assert state["durations"][CUT] == 400.2 and state["durations"][LONG] == 1000.1  # at least the cap
    assert state["durations"][FAILED] == 20.0
