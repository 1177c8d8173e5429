"""The labeler: publishes the pipeline's `action = label` verdicts as signed atproto labels.

`labels` is the label object and its wire forms, `keys` the signing key (a file locally, a
Secrets Manager secret on AWS), `definitions` the label values from the detection policy,
`store` the sequenced label store (SQLite locally), `worker` the consumer of the tagged
stream, `server` the `subscribeLabels` / `queryLabels` / `did.json` service.
"""
