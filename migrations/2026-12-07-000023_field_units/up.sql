-- What a numeric field's values are measured in ("litre", "kWh", "kg CO2e"), and whether
-- the project's summary adds it up by module scope.
ALTER TABLE data_fields ADD COLUMN unit TEXT, ADD COLUMN total BOOLEAN NOT NULL DEFAULT false;
