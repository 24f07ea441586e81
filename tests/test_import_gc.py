"""The garbage collector is paused while an import runs, and everything is back after it."""

import gc
import threading
import weakref

from provisioner.importing import paused_gc


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_the_collector_is_back_on_after_the_last_import_and_collects_what_they_left():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # two imports at once: the collector stays off until both are done
            pass
        assert not gc.isenabled()
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector can free it
        alive = weakref.ref(a)
        del a, b
    assert gc.isenabled()
    # What the import allocated was handed to the oldest generation, not left frozen: a full
    # collection still frees its garbage.
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None


def test_imports_in_threads_leave_the_collector_on():
    started = threading.Barrier(3)
    done = threading.Event()

    def run() -> None:
        with paused_gc():
            started.wait()
            done.wait(5)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait()
    assert not gc.isenabled()
    done.set()
    for t in threads:
        t.join()
    assert gc.isenabled() and gc.get_freeze_count() == 0
