#!/usr/bin/env bash
# Continue training the shipped default model (config quarter_2s) in the background-friendly
# way it was started: two gloo processes with one thread each and 4 notes each (batch 8).
#   bash tools/train_default.sh            # renders the data set if missing, resumes, trains
#   bash tools/train_default.sh --save     # copies the resumable state into train-state/,
#                                          # exports the EMA generator as the default model
#                                          # and remakes the factory presets for it
# The data set is rebuilt by the command below (never committed); the resumable state lives
# in train-state/quarter_2s/ (committed at most once per session).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/fluidr3}
RUN=${RUN:-runs/default}
STATE=train-state/quarter_2s
MODEL=instrument/models/default.safetensors
SF2=/usr/share/sounds/sf2/FluidR3_GM.sf2
# the acoustic GM programs of trainer.gm.default_programs() without the ones FluidR3 plays
# off pitch or with no clear pitch: 9 glockenspiel, 14 tubular bells, 47 timpani, 52/53 voices
PROGRAMS=0,1,3,6,8,10,11,12,13,15,24,25,32,40,41,42,43,44,45,46,48,49,56,57,58,59,60,61,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79

if [[ "${1:-}" == "--save" ]]; then
  mkdir -p "$STATE" "$(dirname "$MODEL")"
  for f in latest.pt run.json; do
    [[ -f "$RUN/$f" ]] && cp "$RUN/$f" "$STATE/$f"
  done
  .venv/bin/python -m trainer export "$RUN" --out "$MODEL" --checkpoint "${CHECKPOINT:-latest}"
  # factory presets name the model they were made with: remake them for the new one
  .venv/bin/python -m trainer make-presets --model "$MODEL" --data "$DATA" --out presets
  exit 0
fi

if [[ ! -f "$DATA/examples.json" ]]; then
  .venv/bin/python -m trainer build-dataset --soundfont "$SF2" --out "$DATA" \
    --velocities 50,100,127 --programs "$PROGRAMS"
fi
mkdir -p "$RUN"
if [[ ! -f "$RUN/latest.pt" && -f "$STATE/latest.pt" ]]; then
  cp "$STATE"/* "$RUN"/
fi
resume=()
[[ -f "$RUN/latest.pt" ]] && resume=(--resume)
# salience_source=audio: the pitch loss hears the notes' sound (from 410k images on; the
# run began with the mel salience, which the generator had satisfied without the pitch);
# harmonic_weight: the share of power on the harmonics (from 450k images on; 2 to 570k,
# where the share had settled at 0.53 of its 0.9 target once the fundamental's share met
# its own; then 5);
# fundamental_weight: the first harmonic's part of it, at least the real notes' 40th
# percentile near the same pitch (from 530k images on: the generator's notes had
# their power on harmonics 2-4 and torchcrepe heard them an octave or two up; weight 4
# to 540k, where the share had risen from 0.12 to 0.15 of the targets' ~0.3; then 10);
# envelope_weight: the shares of power in bands of multiples of f0, within the real
# notes' 10th-90th percentiles near the same pitch (from 540k images on: the high notes
# held 75 % of their power in lines at 5.5-7 kHz, the real ones 0.3 % above 4 kHz);
# tuning_weight: the share of power near the harmonics by how near, at least the real
# notes' 10th percentile near the same pitch (from 580k images on: whole pitches played
# one to two semitones off the same way for every latent, where the narrow harmonic
# mask has no slope); time_weight: the shares of the note's energy in 8 equal segments,
# within the real notes' 10th-90th percentiles near the same pitch (from 590k images on:
# the notes burst at the onset and the very end and held their body 15-20 dB below, the
# real ones are held level); odd_weight: the odd harmonics' part of the power on the
# harmonics, at least the real notes' 25th percentile near the same pitch (from 610k
# images on: the notes torchcrepe heard an octave or two up had their power on the
# even harmonics); profile_weight: G's running mean share of each harmonic near each
# pitch drawn to the real notes' mean (from 630k images on: below MIDI 48 the notes
# held almost nothing on the 2nd harmonic (0.01 of the power, real 0.20) and too much
# on the 3rd-5th, and torchcrepe heard the 3rd or 5th harmonic as the pitch; 20 to
# 660k, where the summed gap had only gone from 0.44 to 0.42, then 50);
# late_weight: the share of power on the harmonics of a later part of the note (from
# 0.4 of it, whatever its level), at least the real notes' 10th percentile near the
# same pitch (from 640k images on: after a loud onset the notes' quiet rest held a
# median 0.56-0.89 of its power on the harmonics, the real notes 0.97-1.00);
# presence_weight: the log of the share of power on each of the first two harmonics,
# at least the log of the real notes' 40th percentile near the same pitch (from 660k
# images on: below MIDI 36 the notes held a median 0.004 of their power on the 2nd
# harmonic (real 0.12) and torchcrepe heard the 3rd, 19 semitones up; a share's
# gradient vanishes with the harmonic's power, which is why the profile term could
# not raise it; the log's does not); late_presence_weight: the same in the late part
# of the note (from 680k images on: below MIDI 36 the notes held their first three
# harmonics in the first second only, then moved their power to harmonics 4-8, where
# the real notes keep it level, and torchcrepe heard those over the held frames);
# presence_quantile 0.4 to 690k, then 0.6 (at 690k the low notes sat at the 40th
# percentiles, which below MIDI 36 are the notes with no fundamental: 0.02-0.08 of
# the power; torchcrepe heard the pitch class of a quarter of MIDI 24-35);
# presence_weight and late_presence_weight 2 to 710k, then 4 (from 690k to 710k the
# late part's loss had only gone from 0.51 to 0.33 and the held part's stayed at 0.48;
# MIDI 24-35 still held 0.32 of its late power on the first two harmonics, real 0.52);
# late_salience_weight: the pitch cross-entropy on the late part of the note (from
# 710k images on: at 710k the held part of every note scored its own pitch, while the
# late part of most notes at MIDI 27-37 and 82 scored another, 3-36 semitones off,
# and torchcrepe heard those; the same pitches failed for every latent);
# from 730k images on the presence terms count a harmonic's power on the harmonic
# itself, not over its whole band (at 720k, with the presence weights at 4, MIDI 42
# held its 2nd harmonic at 1.73 f0 and MIDI 37 and 82 2.6-2.9 semitones above 2 f0);
# tuning_sharpness 8 from 750k images on (cos^16 tuning mask, 1 before: cos^2): at
# 740k-750k the keys still off (MIDI 26-32, 34, 35, 42) held their 2nd harmonic's
# power 1.7-3.7 semitones off 2 f0 (MIDI 31: a series on 1.19 f0) and torchcrepe heard
# their 3rd-5th harmonic; cos^2 counted those partials at 0.1-0.7 and the notes met
# the real notes' tuned share all but 0.06; cos^16 counts them at under 0.05
# extra_time_s: the 12 h schedule ended at ~590k images; the run goes on at full
# resolution (the stages stay where the 12 h put them)
exec .venv/bin/torchrun --standalone --nproc_per_node 2 -m trainer train --config quarter_2s \
  --data "$DATA" --out "$RUN" --no-progress --set batch_size=4 --set extra_time_s=86400 \
  --set salience_source=audio --set harmonic_weight=5.0 \
  --set fundamental_weight=10.0 --set fundamental_quantile=0.4 \
  --set envelope_weight=5.0 --set envelope_quantile=0.1 \
  --set tuning_weight=10.0 --set tuning_quantile=0.1 --set tuning_sharpness=8.0 \
  --set time_weight=5.0 --set time_quantile=0.1 \
  --set odd_weight=10.0 --set odd_quantile=0.25 --set profile_weight=50.0 \
  --set late_weight=5.0 --set late_quantile=0.1 \
  --set presence_weight=4.0 --set presence_quantile=0.6 --set late_presence_weight=4.0 \
  --set late_salience_weight=1.0 \
  "${resume[@]}"
