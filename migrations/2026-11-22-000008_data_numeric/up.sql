-- A row value as a number, or NULL when it is not one. Filters, field indexes and their
-- statistics use it instead of a plain cast, which would fail on another table's
-- non-numeric value under the same key (ANALYZE samples every tenant's rows).
CREATE FUNCTION data_numeric(value text) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN value ~ '^-?[0-9]+(\.[0-9]+)?$' THEN value::numeric END;
