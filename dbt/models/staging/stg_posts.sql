{#- One row per live post with the flags every mart counts; times as naive UTC timestamps.
    Verdicts are the scorer's own columns (no threshold is recomputed here): `fraud-text` /
    `fraud-media` labels mark a model reaching its policy operating point. -#}
-- depends_on: {{ source('lake', 'compacted_posts') }}

{{ stg_posts_select(lake_posts()) }}
