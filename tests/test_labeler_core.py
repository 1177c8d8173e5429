"""The labeler's core: signed labels, the signing key, the label policy, the store and the worker."""

from __future__ import annotations

import stat
import time

import pyarrow.parquet as pq
import pytest
from atproto_crypto.verify import verify_signature

from fraud_pipeline.aws import aws_client
from fraud_pipeline.labeler.definitions import load_label_policy
from fraud_pipeline.labeler.keys import FileKeyStore, SecretsManagerKeyStore, SigningKey
from fraud_pipeline.labeler.labels import Label
from fraud_pipeline.labeler.store import SqliteLabelStore
from fraud_pipeline.labeler.worker import checkpoint_key
from fraud_pipeline.lake.errors import read_errors
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.policy import PolicyError, default_policy_dir, load_policy
from fraud_pipeline.policy.source import FolderPolicySource
from fraud_pipeline.records import VERDICT_OPERATION
from fraud_pipeline.settings import Settings
from fraud_pipeline.state import open_state
from fraud_pipeline.streams import open_stream
from tests.labeler_fixtures import drain, post_uri, put_tagged, verdict, worker_for


def _label(i: int, **kwargs: object) -> Label:
    fields: dict[str, object] = {
        "src": "did:web:labeler.test",
        "uri": post_uri(i),
        "val": "scam",
        "cts": "2026-11-30T07:00:00.000Z",
        "cid": "bafyreiaaa",
    }
    fields.update(kwargs)
    return Label(**fields)  # type: ignore[arg-type]


def test_signatures_verify_with_atproto_and_are_low_s() -> None:
    """atproto verifiers reject the high-S twin of a signature: about half of raw ECDSA
    signatures are high-S, so 64 labels fail here unless every one is normalised."""
    key = SigningKey.generate()
    for i in range(64):
        label = _label(i, neg=i % 2 == 1).signed(key)
        assert len(label.sig) == 64
        assert verify_signature(key.did_key, label.signing_bytes(), label.sig)
        # the signed bytes leave `sig` out and carry ver: 1
        assert label.unsigned_dict()["ver"] == 1 and "sig" not in label.unsigned_dict()
        assert Label.from_cbor(label.to_cbor()) == label
    tampered = _label(0, val="phishing")
    assert not verify_signature(key.did_key, tampered.signing_bytes(), _label(0).signed(key).sig)


def test_neg_and_absent_fields_are_left_out_of_the_signed_object() -> None:
    body = _label(1, cid=None).unsigned_dict()
    assert set(body) == {"ver", "src", "uri", "val", "cts"}
    assert _label(1, neg=True, exp="2026-12-01T00:00:00.000Z").unsigned_dict()["neg"] is True


def test_file_key_is_created_once_with_mode_0600(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "labeler" / "signing-key.pem"
    first = FileKeyStore(path).load_or_create()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FileKeyStore(path).load_or_create().did_key == first.did_key
    assert first.did_key.startswith("did:key:zDn")  # P-256 multicodec


@pytest.mark.moto
def test_secrets_manager_key_is_created_on_first_use(aws_settings: Settings) -> None:
    client = aws_client("secretsmanager", aws_settings.aws_region, aws_settings.endpoint_url)
    client.create_secret(Name=aws_settings.labeler_key_secret)  # as Terraform leaves it: no value
    first = SecretsManagerKeyStore(client, aws_settings.labeler_key_secret).load_or_create()
    again = SecretsManagerKeyStore(client, aws_settings.labeler_key_secret).load_or_create()
    assert again.did_key == first.did_key
    label = _label(3).signed(again)
    assert verify_signature(first.did_key, label.signing_bytes(), label.sig)


def test_the_policy_labeler_section_loads_and_rejects_mistakes() -> None:
    policy = load_label_policy()
    assert policy.published_values(["crypto-scam", "phishing"]) == {"scam", "phishing"}
    assert policy.published_values(["something-new"]) == {policy.default_value}
    assert {d["identifier"] for d in policy.definitions()} == set(policy.spec.values)
    files = FolderPolicySource(default_policy_dir()).read()
    text = files["labeler.yaml"].decode()
    bad_cases = [
        ("default_value: scam", "default_value: nope"),
        ("    phishing:\n", "    Phishing_Value:\n"),
        ("severity: alert", "severity: loud"),
        ("from: [phishing, wallet-drainer]", "from: [phishing, not-a-declared-label]"),
        ("expires_after_days: null", "expires_after_days: -1"),
    ]
    for old, new in bad_cases:
        assert old in text
        with pytest.raises(PolicyError) as caught:
            load_policy({**files, "labeler.yaml": text.replace(old, new, 1).encode()})
        assert all(p.file == "labeler.yaml" for p in caught.value.problems), caught.value


def test_store_query_matches_prefixes_pages_by_seq_and_keeps_the_current_state(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SqliteLabelStore(tmp_path / "labels.sqlite")
    key = SigningKey.generate()
    labels = [_label(i).signed(key) for i in range(10)]
    labels.append(_label(3, neg=True).signed(key))  # the current state of post 3 is the negation
    labels.append(_label(1, uri="at://did:plc:other/app.bsky.feed.post/1").signed(key))
    seqs = store.append(labels)
    assert seqs == list(range(1, 13)) and store.head() == 12
    pattern = "at://did:plc:author/*"
    page1 = store.query([pattern], None, 0, 4)
    assert [s.seq for s in page1] == [1, 2, 3, 5]  # post 3's label (seq 4) was superseded
    page2 = store.query([pattern], None, page1[-1].seq, 4)
    rest = store.query([pattern], None, page2[-1].seq, 4)
    assert [s.seq for s in page2 + rest] == [6, 7, 8, 9, 10, 11]
    assert rest[-1].neg and rest[-1].uri == post_uri(3)
    assert [s.uri for s in store.query([post_uri(2)], None, 0, 50)] == [post_uri(2)]
    assert store.query([pattern], ["did:web:someone-else"], 0, 50) == []


def test_worker_labels_negates_reversals_and_resumes_without_duplicates(local_settings: Settings) -> None:
    rows = [verdict(i) for i in range(20)] + [verdict(100, action="review"), verdict(101, action="none")]
    put_tagged(local_settings, rows)
    worker = worker_for(local_settings)
    drain(worker)
    store = worker.store
    assert store.head() == 20
    assert {s.label.val for s in store.after(0, 100)} == {"scam"}
    # a reversed verdict (campaign re-label / policy change) and a changed verdict
    put_tagged(local_settings, [verdict(5, action="none"), verdict(6, labels=["phishing"])])
    drain(worker)
    tail = store.after(20, 100)
    assert [(s.uri, s.val, s.neg) for s in tail] == [
        (post_uri(5), "scam", True),
        (post_uri(6), "phishing", False),
        (post_uri(6), "scam", True),
    ]
    assert tail[0].label.cid == "bafyreiaaa"  # the negation names the version it un-labels
    # a second worker on the same store reads on from the stored positions: nothing twice
    put_tagged(local_settings, [verdict(7), verdict(200)])  # 7 is already labelled
    again = worker_for(local_settings)
    drain(again)
    assert [(s.uri, s.neg) for s in store.after(23, 100)] == [(post_uri(200), False)]
    # the shared checkpoints say the worker is drained
    state, stream, name = (
        open_state(local_settings),
        open_stream(local_settings),
        local_settings.tagged_stream,
    )
    for shard in stream.describe(name).shard_ids:
        assert state.get_checkpoint(checkpoint_key(name, shard)) == stream.latest_sequence(name, shard)


def test_a_replayed_label_verdict_after_a_reversal_does_not_flap(local_settings: Settings) -> None:
    """Crash between storing and checkpointing: the store's own positions decide where to resume."""
    put_tagged(local_settings, [verdict(1), verdict(1, action="none")])
    worker = worker_for(local_settings)
    drain(worker)
    open_state(local_settings).put_checkpoints({})  # the shared checkpoint plays no part in resuming
    drain(worker_for(local_settings))
    assert [(s.val, s.neg) for s in worker.store.after(0, 10)] == [("scam", False), ("scam", True)]


def test_bad_records_go_to_the_errors_prefix_and_the_stream_goes_on(local_settings: Settings) -> None:
    put_tagged(
        local_settings,
        [
            b"not json",
            b"[1, 2]",
            {"uri": "https://example.com", "action": "label"},
            {**verdict(1), "action": "maybe"},
            verdict(2),
        ],
        shards=1,
    )
    worker = worker_for(local_settings)
    drain(worker)
    assert worker.stats.records_in == 5 and worker.stats.bad_records == 4
    assert worker.store.head() == 1
    errors = read_errors(ObjectStore.from_settings(local_settings), local_settings.errors_prefix + "labels/")
    assert len(errors) == 4 and {e["errorCode"] for e in errors} == {"NotAVerdict"}


def test_deletes_change_nothing_and_overrides_hold(local_settings: Settings) -> None:
    from fraud_pipeline.labeler.store import Override

    put_tagged(local_settings, [verdict(1), verdict(1, operation="delete", action="none")])
    worker = worker_for(local_settings)
    drain(worker)
    assert worker.store.head() == 1 and worker.stats.skipped == 1
    worker.store.append(
        [
            Label(
                local_settings.labeler_did, post_uri(2), "scam", "2026-11-30T07:00:00.000Z", neg=True
            ).signed(worker.signer)
        ],
        overrides=[Override(post_uri(2), "scam", "a person checked", "2026-11-30T07:00:00.000Z")],
    )
    put_tagged(local_settings, [verdict(2), verdict(2, labels=["crypto-scam", "phishing"])])
    drain(worker)
    published = [(s.uri, s.val, s.neg) for s in worker.store.after(2, 10)]
    assert published == [(post_uri(2), "phishing", False)]
    assert worker.stats.overridden == 2


def test_labels_land_in_the_lake(local_settings: Settings) -> None:
    put_tagged(local_settings, [verdict(i) for i in range(5)] + [verdict(0, action="none")])
    worker = worker_for(local_settings)
    drain(worker)
    assert worker.export_to_lake() == 6 and worker.export_to_lake() == 0
    objects = ObjectStore.from_settings(local_settings)
    keys = [o.key for o in objects.list_objects(local_settings.labels_prefix)]
    assert len(keys) == 1 and keys[0].endswith("labels-000000000001-000000000006.parquet")
    table = pq.read_table(objects.path(keys[0]), filesystem=objects.fs)
    assert table.column("seq").to_pylist() == [1, 2, 3, 4, 5, 6]
    assert table.column("neg").to_pylist() == [False] * 5 + [True]


def test_a_campaign_verdict_update_labels_the_earlier_post(local_settings: Settings) -> None:
    earlier = verdict(1, action="none", labels=[])  # scored before the campaign existed
    update = {
        **verdict(1, labels=["spam-campaign", "campaign:abc"], operation=VERDICT_OPERATION),
        "cid": None,
    }
    labelled = verdict(2)  # already labelled `scam` with its cid; the update keeps that cid
    again = {**verdict(2, labels=["crypto-scam"], operation=VERDICT_OPERATION), "cid": None}
    put_tagged(local_settings, [earlier, labelled, update, again])
    worker = worker_for(local_settings)
    drain(worker)
    published = [(s.uri, s.val, s.neg, s.cid) for s in worker.store.after(0, 10)]
    assert published == [
        (post_uri(2), "scam", False, "bafyreiaaa"),
        (post_uri(1), "spam-campaign", False, None),
    ]


def test_worker_reports_counts_and_lag_to_the_metrics_port(local_settings: Settings) -> None:
    from fraud_pipeline.metrics import open_metrics

    put_tagged(local_settings, [verdict(i) for i in range(4)] + [verdict(0, action="none")])
    worker = worker_for(local_settings)
    drain(worker)
    worker.flush_metrics()
    metrics = open_metrics(local_settings)
    now_ms = int(time.time() * 1000)

    def total(name: str, stat: str = "Sum") -> float:
        points = metrics.query(
            local_settings.metric_namespace, name, now_ms - 60_000, now_ms + 60_000, 60, stat
        )
        return sum(p.value for p in points)

    assert total("Labels-Published") == 4 and total("Labels-Negated") == 1
    assert 0 <= total("Labels-Stream-Lag-Ms", "Maximum") < 60_000


def test_labels_are_a_table_beside_posts(local_settings: Settings) -> None:
    from fraud_pipeline.analytics.query import run_query
    from fraud_pipeline.catalog import open_catalog
    from fraud_pipeline.provision import provision

    provision(local_settings)
    catalog = open_catalog(local_settings)
    columns = [c.name for c in catalog.table_columns(local_settings.glue_database, "labels")]
    catalog.close()
    assert columns[:6] == ["seq", "src", "uri", "cid", "val", "neg"]
    assert run_query(local_settings, "SELECT count(*) AS n FROM labels").rows == [(0,)]  # before any copy
    put_tagged(local_settings, [verdict(i) for i in range(3)] + [verdict(1, action="none")])
    worker = worker_for(local_settings)
    drain(worker)
    worker.export_to_lake()
    result = run_query(
        local_settings, "SELECT uri, bool_or(neg) AS negated FROM labels GROUP BY uri ORDER BY uri"
    )
    assert result.rows == [(post_uri(0), False), (post_uri(1), True), (post_uri(2), False)]


def test_the_worker_follows_policy_pushes_and_keeps_its_labeler_section(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fraud_pipeline.labeler.definitions import LiveLabelPolicy
    from fraud_pipeline.policy.runtime import PolicyHolder

    folder = tmp_path / "policy"
    folder.mkdir()
    for name, data in FolderPolicySource(default_policy_dir()).read().items():
        (folder / name).write_bytes(data)
    holder = PolicyHolder(FolderPolicySource(folder), check_every_s=0.0)
    live = LiveLabelPolicy(holder)
    assert live.current().published_values(["wallet-drainer"]) == {"phishing"}
    text = (folder / "labeler.yaml").read_text()
    (folder / "labeler.yaml").write_text(text.replace("from: [phishing, wallet-drainer]", "from: [phishing]"))
    assert live.current().published_values(["wallet-drainer"]) == {"scam"}  # now the default value
    (folder / "labeler.yaml").unlink()  # a push without the labeler section
    assert live.current().published_values(["wallet-drainer"]) == {"scam"}  # the last one holds


def test_shared_checkpoints_are_written_once_caught_up_even_inside_the_busy_interval(
    local_settings: Settings,
) -> None:
    """The worker batches its shared checkpoints while busy; `up`/`replay` must still see it drained."""
    put_tagged(local_settings, [verdict(i) for i in range(3)], shards=1)
    worker = worker_for(local_settings)
    assert worker.step() == 3
    state, stream = open_state(local_settings), open_stream(local_settings)
    name = local_settings.tagged_stream
    (shard,) = stream.describe(name).shard_ids
    assert worker.step() == 0  # caught up: the checkpoint is written now, not a second later
    assert state.get_checkpoint(checkpoint_key(name, shard)) == stream.latest_sequence(name, shard)
