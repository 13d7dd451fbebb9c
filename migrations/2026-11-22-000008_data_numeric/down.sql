DROP FUNCTION data_numeric(text);
