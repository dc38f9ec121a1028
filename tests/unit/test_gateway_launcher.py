"""gateway.processes' Launcher stops within its grace period after a signal, even when
every process it started hangs in its own stop."""

import os
import signal
import subprocess
import sys
import textwrap
import time

# Two processes that ignore SIGTERM: as nameko can be when told to stop mid-start.
LAUNCH = textwrap.dedent("""
    import sys
    from gateway import processes
    processes.STOP_GRACE_SECONDS = 1
    stubborn = [sys.executable, "-c",
                "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('up', flush=True); time.sleep(60)"]
    sys.exit(processes.Launcher(stubborn, 2, {}).run())
""")


def test_a_signal_stops_the_launcher_even_when_every_process_ignores_it():
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCH], stdout=subprocess.PIPE,
                                text=True, cwd=os.getcwd())
    assert launcher.stdout is not None
    try:
        assert "processes, pids" in launcher.stdout.readline()
        time.sleep(0.3)  # both started
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(10) == 1  # killed after the grace: not a clean stop
        assert "did not stop in 1s; killing it" in launcher.stdout.read()
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
