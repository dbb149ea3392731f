"""NSynth readers: TFRecord framing, tf.train.Example, json/wav, subset, split."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile

from trainer import tfrecord
from trainer.build_dataset import build_from_soundfont
from trainer.dataset import (
    NSYNTH_KEYS,
    BadAudio,
    SkipLog,
    audio_problem,
    crop_or_pad,
    iter_examples,
    list_examples,
    load_audio,
    split_refs,
    subset_filter,
)

# The published tf.train.Example schema (tensorflow/core/example/*.proto).
_EXAMPLE_PROTO = {
    "BytesList": [("value", 1, "bytes", "repeated", False)],
    "FloatList": [("value", 1, "float", "repeated", True)],
    "Int64List": [("value", 1, "int64", "repeated", True)],
}


def _example_classes():
    """tf.train.Example message classes made by the protobuf library from the schema."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    types = {"bytes": F.TYPE_BYTES, "float": F.TYPE_FLOAT, "int64": F.TYPE_INT64}
    fdp = descriptor_pb2.FileDescriptorProto(
        name="h3a_example.proto", package="h3a.tensorflow", syntax="proto3"
    )
    for name, fields in _EXAMPLE_PROTO.items():
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype, _, packed in fields:
            f = msg.field.add(
                name=fname, number=number, type=types[ftype], label=F.LABEL_REPEATED
            )
            f.options.packed = packed
    feature = fdp.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for fname, number, tname in (
        ("bytes_list", 1, "BytesList"),
        ("float_list", 2, "FloatList"),
        ("int64_list", 3, "Int64List"),
    ):
        feature.field.add(
            name=fname,
            number=number,
            type=F.TYPE_MESSAGE,
            type_name=f".h3a.tensorflow.{tname}",
            label=F.LABEL_OPTIONAL,
            oneof_index=0,
        )
    features = fdp.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(
        name="value",
        number=2,
        type=F.TYPE_MESSAGE,
        type_name=".h3a.tensorflow.Feature",
        label=F.LABEL_OPTIONAL,
    )
    features.field.add(
        name="feature",
        number=1,
        type=F.TYPE_MESSAGE,
        type_name=".h3a.tensorflow.Features.FeatureEntry",
        label=F.LABEL_REPEATED,
    )
    example = fdp.message_type.add(name="Example")
    example.field.add(
        name="features",
        number=1,
        type=F.TYPE_MESSAGE,
        type_name=".h3a.tensorflow.Features",
        label=F.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("h3a.tensorflow.Example")
    )


def _nsynth_features(pitch: int, audio: np.ndarray) -> dict:
    """One note with every NSynth feature, in the published types (GANSYNTH.md 1.1)."""
    name = f"guitar_acoustic_024-{pitch:03d}-100"
    return {
        "note": pitch,
        "note_str": name,
        "instrument": 24,
        "instrument_str": "guitar_acoustic_024",
        "pitch": pitch,
        "velocity": 100,
        "sample_rate": 16000,
        "audio": audio.astype(np.float32),
        "qualities": np.array([0, 1, 0, 0, 0, 0, 0, 1, 0, 0], np.int64),
        "qualities_str": ["dark", "percussive"],
        "instrument_family": 3,
        "instrument_family_str": "guitar",
        "instrument_source": 0,
        "instrument_source_str": "acoustic",
    }


def test_crc32c_known_value():
    assert tfrecord.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


def test_example_codec_matches_protobuf(rng):
    Example = _example_classes()
    audio = rng.uniform(-0.5, 0.5, 1000).astype(np.float32)
    feats = _nsynth_features(60, audio)
    parsed = Example.FromString(tfrecord.encode_example(feats)).features.feature
    assert list(parsed["audio"].float_list.value) == pytest.approx(audio.tolist())
    assert list(parsed["pitch"].int64_list.value) == [60]
    assert list(parsed["qualities_str"].bytes_list.value) == [b"dark", b"percussive"]
    # protobuf's own encoding (unpacked int64s, negative values) decodes by ours
    ex = Example()
    ex.features.feature["q"].int64_list.value.extend([0, -5, 2**40])
    ex.features.feature["a"].float_list.value.extend([0.25, -1.5])
    ex.features.feature["s"].bytes_list.value.append(b"abc")
    back = tfrecord.decode_example(ex.SerializeToString())
    assert back["q"].tolist() == [0, -5, 2**40]
    assert back["a"].dtype == np.float32 and back["a"].tolist() == [0.25, -1.5]
    assert back["s"] == [b"abc"]


def test_tfrecord_framing_matches_tensorboard(tmp_path):
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import (
        PyRecordReader_New,
    )
    from tensorboard.summary.writer.record_writer import RecordWriter

    records = [b"", b"x" * 1000, bytes(range(256))]
    ours = tmp_path / "ours.tfrecord"
    tfrecord.write_records(ours, records)
    reader = PyRecordReader_New(str(ours))
    for rec in records:
        reader.GetNext()
        assert reader.curr_event == rec
    theirs = tmp_path / "theirs.tfrecord"
    buf = io.BytesIO()
    writer = RecordWriter(buf)
    for rec in records:
        writer.write(rec)
    theirs.write_bytes(buf.getvalue())
    assert list(tfrecord.read_records(theirs, verify_data=True)) == records


def test_tfrecord_corruption_is_refused(tmp_path):
    path = tmp_path / "bad.tfrecord"
    tfrecord.write_records(path, [b"hello world", b"second"])
    data = bytearray(path.read_bytes())
    data[14] ^= 0xFF  # inside the first record's data
    path.write_bytes(bytes(data))
    with pytest.raises(tfrecord.TFRecordError, match="record 0 has a bad data"):
        list(tfrecord.read_records(path, verify_data=True))
    data[14] ^= 0xFF
    data[2] ^= 0xFF  # the length
    path.write_bytes(bytes(data))
    with pytest.raises(tfrecord.TFRecordError, match="bad length checksum"):
        list(tfrecord.read_records(path))
    tfrecord.write_records(path, [b"hello world"])
    path.write_bytes(path.read_bytes()[:-6])
    with pytest.raises(tfrecord.TFRecordError, match="truncated"):
        list(tfrecord.read_records(path))


def test_nsynth_tfrecord_dataset(tmp_path, sf_renderer):
    notes = {p: sf_renderer.render_note(24, p, 100) * 0.5 for p in (40, 60, 90)}
    records = [
        tfrecord.encode_example(_nsynth_features(p, a)) for p, a in notes.items()
    ]
    tfrecord.write_records(tmp_path / "nsynth-test.tfrecord", records)
    refs = list_examples(tmp_path)
    assert [r.pitch for r in refs] == [40, 60, 90]
    meta = refs[1].meta
    assert set(NSYNTH_KEYS) <= set(meta)
    assert meta["qualities_str"] == ["dark", "percussive"]
    assert meta["instrument_family_str"] == "guitar" and meta["sample_rate"] == 16000
    np.testing.assert_array_equal(load_audio(refs[1]), notes[60].astype(np.float32))
    keep = subset_filter()
    assert [r.pitch for r in refs if keep(r.meta)] == [40, 60]
    # the metadata scan is cached beside the file and invalidated by a change
    assert len(list((tmp_path / ".cache").glob("nsynth-test.tfrecord-*.json"))) == 1
    assert list_examples(tmp_path) == refs
    tfrecord.write_records(tmp_path / "nsynth-test.tfrecord", records[:1])
    assert [r.pitch for r in list_examples(tmp_path)] == [40]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory, soundfont_path):
    out = tmp_path_factory.mktemp("nsynth")
    build_from_soundfont(
        soundfont_path, out, [0, 40], [48, 60, 72], [100], seconds=2.0, hold=1.5
    )
    return out


def test_jsonwav_layout_reads_back(tiny_set):
    refs = list_examples(tiny_set)
    assert len(refs) == 6
    table = json.loads((tiny_set / "examples.json").read_text())
    for ref in refs:
        assert table[ref.note_str] == ref.meta
        audio = load_audio(ref)
        assert audio.dtype == np.float32 and audio.shape == (32000,)
        info = soundfile.info(str(ref.path))
        assert (info.samplerate, info.subtype, info.channels) == (16000, "PCM_16", 1)


def test_bad_files_are_skipped_one_line_each(tiny_set, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_set, data)
    audio = data / "audio"
    names = sorted(p.stem for p in audio.glob("*.wav"))
    (audio / f"{names[0]}.wav").unlink()  # missing
    (audio / f"{names[1]}.wav").write_bytes(b"RIFF junk, not a wave")  # unreadable
    tone = 0.3 * np.sin(np.arange(32000) * 0.1)
    soundfile.write(str(audio / f"{names[2]}.wav"), tone, 22050, "PCM_16")  # wrong rate
    soundfile.write(str(audio / f"{names[3]}.wav"), np.zeros(32000), 16000, "PCM_16")
    clipped = np.clip(5 * tone, -1, 1)
    soundfile.write(str(audio / f"{names[4]}.wav"), clipped, 16000, "PCM_16")
    skips = SkipLog()
    good = list(iter_examples(list_examples(data), skips))
    assert [e.meta["note_str"] for e in good] == [names[5]]
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 5
    reasons = ["missing", "unreadable", "wrong sample rate", "silent", "clipped"]
    for line, name, reason in zip(lines, names[:5], reasons, strict=True):
        assert line.startswith(f"skipped {name}: {reason}")
    assert skips.total == 5 and "5 notes" in skips.summary()


def test_malformed_examples_json_is_one_sentence(tmp_path):
    (tmp_path / "examples.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable NSynth examples.json"):
        list_examples(tmp_path)
    (tmp_path / "examples.json").write_text(json.dumps({"a": {"velocity": 3}}))
    with pytest.raises(ValueError, match="lacks the NSynth key"):
        list_examples(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no NSynth data"):
        list_examples(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="not found"):
        list_examples(tmp_path / "nowhere")


def test_audio_problem_rules():
    t = np.arange(16000)
    assert audio_problem(0.5 * np.sin(t * 0.05)) is None
    assert audio_problem(np.zeros(100)) == "silent"
    assert audio_problem(np.array([0.1, np.nan])) == "not finite"
    one_peak = 0.5 * np.sin(t * 0.05)
    one_peak[100] = 1.0  # a normalised note touches full scale once: fine
    assert audio_problem(one_peak) is None
    assert audio_problem(np.clip(2 * np.sin(t * 0.05), -1, 1)) == "clipped"
    with pytest.raises(BadAudio):
        raise BadAudio("silent")


def test_crop_or_pad_is_the_reference():
    w = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(crop_or_pad(w, 3), [1, 2, 3])  # keeps the first
    # pad 4: right = floor(4 / 2) = 2, left = 2; pad 3: right 1, left 2
    np.testing.assert_array_equal(crop_or_pad(w, 9), [0, 0, 1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(crop_or_pad(w, 8), [0, 0, 1, 2, 3, 4, 5, 0])
    assert crop_or_pad(np.ones((2, 5)), 4).shape == (2, 4)


@pytest.mark.parametrize("n", [1, 10, 101])
def test_split_is_disjoint_fixed_and_80_20(tiny_set, n):
    base = list_examples(tiny_set)[0]
    refs = [
        type(base)({**base.meta, "note_str": f"x_acoustic_000-{i:03d}-100"}, base.path)
        for i in range(n)
    ]
    train, test = split_refs(refs, "train"), split_refs(refs, "test")
    names = lambda rs: [r.note_str for r in rs]  # noqa: E731
    assert len(train) == round(0.8 * n)
    assert not set(names(train)) & set(names(test))
    assert sorted(names(train) + names(test)) == sorted(names(refs))
    assert names(split_refs(refs[::-1], "train")) == names(train)  # order-free
    assert names(split_refs(refs, "all")) == names(train) + names(test)
    with pytest.raises(ValueError, match="split must be"):
        split_refs(refs, "valid")


def test_subset_filter_is_gansynths():
    keep = subset_filter()
    assert keep({"pitch": 24, "instrument_source_str": "acoustic"})
    assert keep({"pitch": 84, "instrument_source_str": "acoustic"})
    assert not keep({"pitch": 85, "instrument_source_str": "acoustic"})
    assert not keep({"pitch": 23, "instrument_source_str": "acoustic"})
    assert not keep({"pitch": 60, "instrument_source_str": "electronic"})
    assert subset_filter((0, 127), ("electronic",))(
        {"pitch": 5, "instrument_source_str": "electronic"}
    )
    with pytest.raises(ValueError, match="pitch range"):
        subset_filter((90, 20))
