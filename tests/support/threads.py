"""Real threads racing on the app: each with its own app context and session, all starting together."""

import threading

from app.extensions import db


def in_threads(app, n_threads: int, tasks: list, fn, timeout: float = 120) -> list:
    """Run fn(task) for every task on `n_threads` threads (each its own app context and session, a fresh
    session per task), all starting together; returns the results in task order. Errors other than the
    ones `fn` turns into results fail the test, and so does a thread still running once joined for `timeout` s."""
    results, errors = [None] * len(tasks), []
    chunks = [list(range(i, len(tasks), n_threads)) for i in range(n_threads)]
    barrier = threading.Barrier(n_threads)

    def worker(indices):
        with app.app_context():
            barrier.wait()
            for i in indices:
                try:
                    results[i] = fn(tasks[i])
                except Exception as e:  # recorded and asserted on below
                    errors.append(e)
                finally:
                    db.session.remove()

    threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), f"a thread is still running after {timeout:.0f} s"
    assert not errors, errors[:5]
    return results


def run_all(app, fn, args_list: list[tuple]) -> list:
    """fn(*args) for each args on a thread of its own, all starting together; results in order."""
    return in_threads(app, len(args_list), args_list, lambda args: fn(*args))
