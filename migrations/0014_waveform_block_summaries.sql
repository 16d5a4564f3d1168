-- Each waveform block keeps its minimum, maximum and sum (microvolts), so charts of long ECG spans
-- are bucketed in the database from these columns without decoding a sample (issue 12). NULL for
-- blocks stored before; queries decode those.
alter table waveform_blocks add column min_uv integer;
alter table waveform_blocks add column max_uv integer;
alter table waveform_blocks add column sum_uv bigint;
