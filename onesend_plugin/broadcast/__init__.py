"""The broadcast engine: sends a campaign to its audience as fast as Meta allows, never faster,
never twice, and records what happened to every recipient.

How it stays correct:

* **The ledger is the truth.** Starting a campaign freezes its audience into ``Delivery`` rows,
  one per recipient, unique in the database. Progress is the set of rows no longer pending, so
  a pause, a restart or a crash resumes exactly where the ledger says.
* **Claim, then send.** Workers claim small batches (``SELECT … FOR UPDATE SKIP LOCKED`` on
  PostgreSQL; a conditional update elsewhere), so two workers never hold the same row. The
  claim's time, kept in ``claimed_at``, is the batch's ownership token: every later change of
  its rows is conditional on it, so a worker that stalled past its lease (its rows recovered
  and claimed again by another) changes nothing when it wakes up.
* **At most once.** Rows are marked ``sending`` and committed *before* the Graph API call. A
  worker that dies after that leaves them ``sending``; recovery turns them into ``unknown``,
  which is never resent automatically (an operator may retry them explicitly).
* **Frequency cap across campaigns.** Claiming a subscriber's cooldown is one conditional
  ``UPDATE … RETURNING`` on ``last_marketing_at``, in the transaction that marks the rows
  ``sending``: whichever campaign or worker gets there first sends; the others skip that
  person with reason ``frequency_cap``.
* **Shared rate limit.** Every batch reserves its sends from the Page's bucket (``ratelimit``),
  shared by all workers and campaigns; Meta's throttling errors hold the whole Page.

The modules: ``recipients`` (the audience, frozen into the ledger), ``segments`` (those plugins
offer), ``lifecycle`` (what editors do: start, pause, resume, cancel, retry, test), ``transitions``
(status changes), ``runner`` (the workers' tasks), ``ledger`` (claiming and recording rows),
``sender`` (one batch), ``cooldown`` (the frequency cap), ``ratelimit``, ``channels``, ``timing``
(schedules, quiet hours), ``report`` (progress), ``abtest`` (A/B tests: the draw, the
winner) and ``periodic`` (the minute tick). The names
below are the engine's API.
"""

from .cooldown import claim_cooldown, release_cooldown
from .ledger import OPEN_STATES, claim, owned, recover
from .lifecycle import cancel, delete_at_meta, pause, resume, retry_unknown, send_test, start
from .periodic import tick
from .recipients import audience, count, freeze, in_cooldown
from .report import progress
from .runner import conclude, launch, run, schedule_run
from .sender import Sender
from .transitions import CampaignError, pause_page

__all__ = [
    "OPEN_STATES",
    "CampaignError",
    "Sender",
    "audience",
    "cancel",
    "claim",
    "claim_cooldown",
    "conclude",
    "count",
    "delete_at_meta",
    "freeze",
    "in_cooldown",
    "launch",
    "owned",
    "pause",
    "pause_page",
    "progress",
    "recover",
    "release_cooldown",
    "resume",
    "retry_unknown",
    "run",
    "schedule_run",
    "send_test",
    "start",
    "tick",
]
