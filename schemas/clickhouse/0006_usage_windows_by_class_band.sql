-- usage_windows with one row per token class, for GROUP BY token_class queries (now with price_band).
CREATE OR REPLACE VIEW usage_windows_by_class AS
SELECT
    tenant, window_start, window_end, provider, model, service_tier, price_band, currency, unpriced,
    tupleElement(pair, 1) AS token_class,
    tupleElement(pair, 2) AS tokens,
    tupleElement(pair, 3) AS cost
FROM usage_windows FINAL
ARRAY JOIN [
    ('input_tokens', input_tokens, input_cost),
    ('cached_input_tokens', cached_input_tokens, cached_input_cost),
    ('cache_write_tokens', cache_write_tokens, cache_write_cost),
    ('output_tokens', output_tokens, output_cost),
    ('reasoning_tokens', reasoning_tokens, reasoning_cost),
    ('audio_input_tokens', audio_input_tokens, audio_input_cost),
    ('audio_output_tokens', audio_output_tokens, audio_output_cost),
    ('image_input_tokens', image_input_tokens, image_input_cost)
] AS pair
