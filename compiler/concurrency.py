"""The lock every compile takes.

torch.export is not reentrant (two threads tracing at once failed with "ProxyTorchDispatchMode
slot already occupied"), and a compile updates process-wide tables (partition.KNOWN, the
learned decompositions). So compiles run one at a time in the process, as dynamo's own
compile lock makes them; calls of compiled code never take the lock. A thread that misses
takes it, then looks again: another thread may have compiled what it needs meanwhile.
"""

from __future__ import annotations

import threading

COMPILE_LOCK = threading.RLock()
