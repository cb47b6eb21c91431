"""The change journal: every change to a device is written (and fsynced) before it is made,
so that after SIGKILL or power loss `failover-harness recover RUN_DIR` (or the next `run`)
can undo what the journal says was changed.

journal.jsonl is one JSON object a line, appended only, by one writer at a time (the writer
holds an exclusive flock on the file for its life, so a live run's journal is never
recovered under it):
  {"op": "open", "inventory": PATH, "run_id": R, "pid": P, "host": H, "since": ISO}
                                    a run starts (pid/host/since: who writes from here on)
  {"op": "resume", "by": "recover", "pid": P, "host": H, "since": ISO}
                                    a recovery continues the journal
  {"op": "intent", "id": N, "device": NAME, "action": "shut_interface", "target": "Tunnel1"}
                                    a change is about to be sent to the device
  {"op": "done", "id": N}           the device acknowledged intent N
  {"op": "undone", "id": N}         the undo of intent N was acknowledged (written after a
                                    restore's "done", for readers that match undos by id)
  {"op": "azure_action", "action": "reset_azure_instance", "target": "instance0", "vip": V,
   "at": ISO}                       an Azure reset was requested: nothing undoes it (it ends
                                    by itself); recover reports it for the operator to verify
  {"op": "closed"}                  nothing is outstanding (only ever written then)
Ids are unique over the whole life of the file: every writer continues after the highest id
already in it. Unknown ops are ignored; so is an unparseable line (a write torn by a crash;
a new writer first ends such a line, so its own records start on a line of their own).

What is outstanding is decided per target (device + interface or neighbor), from the whole
history in file order, not by id: a target is left changed when it was ever shut and its
last intent is not an acknowledged restore. A shut intent counts whether or not "done"
followed (the command may have reached the device before the crash), and so does a restore
intent without "done" (it may not have). Every undo is safe to repeat.

records.py: Change, Holder, JournalState; replay.py: the fold above and `read_journal`;
writer.py: `Journal`, the one writer; status.py: `journal_holder`, `unfinished_journals`.
Everything is re-exported here.
"""

from failover_harness.journal.records import JOURNAL_NAME, Change, Holder, JournalBusyError, JournalState
from failover_harness.journal.replay import read_journal
from failover_harness.journal.status import journal_holder, unfinished_journals
from failover_harness.journal.writer import Journal
from failover_harness.vocabulary import ChangeAction

__all__ = [
    "JOURNAL_NAME",
    "Change",
    "ChangeAction",
    "Holder",
    "Journal",
    "JournalBusyError",
    "JournalState",
    "journal_holder",
    "read_journal",
    "unfinished_journals",
]
