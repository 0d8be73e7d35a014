"""A run's life, one module per stage: `state` (the transition rules and the listeners
told of a run's end), `admission` (slots and the start queue), `start` (what the run
tasks ask of an engine), `outcome` (final states, retries, stop requests), `recovery`
(starts and stops a dead worker lost), `retention` (purging old runs). Engines live in
jobs/engines; what a run does on each of them is theirs."""
