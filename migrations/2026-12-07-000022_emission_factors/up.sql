-- Emission factors: the shipped default set (company_id NULL, read-only) and each
-- company's own versions. A version never changes: a new value is a new version with a
-- later valid_from. On a date, a company's version of a key wins over the default's.
CREATE TABLE emission_factors (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id UUID REFERENCES companies (id) ON DELETE CASCADE,
    key TEXT NOT NULL CHECK (key ~ '^[a-z][a-z0-9_.]{0,63}$'),
    label TEXT NOT NULL,
    value NUMERIC NOT NULL,
    unit TEXT NOT NULL,
    basis TEXT,
    source TEXT NOT NULL,
    source_year INTEGER,
    licence TEXT,
    valid_from DATE,
    valid_to DATE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (valid_from IS NULL OR valid_to IS NULL OR valid_from <= valid_to)
);

-- One version per (owner, key, start); also the index every lookup by key uses.
CREATE UNIQUE INDEX emission_factors_version ON emission_factors
    (company_id, key, valid_from) NULLS NOT DISTINCT;

-- The default set, from data/emission-factors.csv (values as published by the cited
-- sources; each row's provenance, e.g. "secondary quotation; check against the DESNZ flat
-- file", is kept in its source so the server shows it wherever it shows the value).
INSERT INTO emission_factors (key, label, value, unit, basis, source, source_year, licence, valid_from, valid_to) VALUES
    ('uk_electricity_kwh', 'UK grid electricity, generation (location-based)', 0.19338, 'kWh', 'kg CO2e per kWh, AR5 GWP100, excluding transmission and distribution losses', 'UK Government GHG Conversion Factors for Company Reporting (DESNZ) (secondary quotation; check against the DESNZ flat file)', 2022, 'Open Government Licence v3.0', '2022-01-01'::date, '2022-12-31'::date),
    ('uk_electricity_kwh', 'UK grid electricity, generation (location-based)', 0.20707, 'kWh', 'kg CO2e per kWh, AR5 GWP100, excluding transmission and distribution losses', 'UK Government GHG Conversion Factors for Company Reporting (DESNZ) (secondary quotation; check against the DESNZ flat file)', 2023, 'Open Government Licence v3.0', '2023-01-01'::date, '2023-12-31'::date),
    ('uk_electricity_kwh', 'UK grid electricity, generation (location-based)', 0.20705, 'kWh', 'kg CO2e per kWh, AR5 GWP100, excluding transmission and distribution losses', 'UK Government GHG Conversion Factors for Company Reporting (DESNZ) (secondary quotation (two sources disagree: 0.20705 and 0.20493); check against the DESNZ flat file)', 2024, 'Open Government Licence v3.0', '2024-01-01'::date, '2024-12-31'::date),
    ('uk_electricity_kwh', 'UK grid electricity, generation (location-based)', 0.17700, 'kWh', 'kg CO2e per kWh, AR5 GWP100, excluding transmission and distribution losses', 'UK Government GHG Conversion Factors for Company Reporting (DESNZ) (secondary quotation (two sources agree); check against the DESNZ flat file)', 2025, 'Open Government Licence v3.0', '2025-01-01'::date, NULL::date),
    ('diesel_litre', 'Diesel, average biofuel blend (B7), road', 2.57082, 'litre', 'kg CO2e per litre, Scope 1 (tank-to-wheel), AR5 GWP100', 'UK Government GHG Conversion Factors for Company Reporting (DESNZ) (secondary quotation; check against the DESNZ flat file)', 2025, 'Open Government Licence v3.0', '2025-01-01'::date, NULL::date),
    ('diesel_mineral_litre', 'Diesel, 100% mineral', 2.66155, 'litre', 'kg CO2e per litre, Scope 1 (tank-to-wheel), AR5 GWP100', 'UK Government GHG Conversion Factors for Company Reporting (DESNZ) (secondary quotation; check against the DESNZ flat file)', 2025, 'Open Government Licence v3.0', '2025-01-01'::date, NULL::date),
    ('gas_oil_litre', 'Gas oil (red diesel)', 2.75541, 'litre', 'kg CO2e per litre, Scope 1, AR5 GWP100', 'UK Government GHG Conversion Factors for Company Reporting (DESNZ) (secondary quotation; check against the DESNZ flat file)', 2025, 'Open Government Licence v3.0', '2025-01-01'::date, NULL::date),
    ('us_natural_gas_mmbtu_co2', 'Natural gas, stationary combustion (US)', 53.06, 'mmBtu', 'kg CO2 per mmBtu (CO2 only; CH4 1.0 g and N2O 0.10 g per mmBtu are separate)', 'US EPA GHG Emission Factors Hub (widely quoted; check against the EPA Hub table)', 2024, 'Public domain (US Government work)', '2024-01-01'::date, NULL::date),
    ('us_diesel_gallon_co2', 'Distillate fuel oil No. 2 / diesel (US)', 10.21, 'gallon', 'kg CO2 per gallon (CO2 only)', 'US EPA GHG Emission Factors Hub (widely quoted; check against the EPA Hub table)', 2024, 'Public domain (US Government work)', '2024-01-01'::date, NULL::date),
    ('us_gasoline_gallon_co2', 'Motor gasoline (US)', 8.78, 'gallon', 'kg CO2 per gallon (CO2 only)', 'US EPA GHG Emission Factors Hub (widely quoted; check against the EPA Hub table)', 2024, 'Public domain (US Government work)', '2024-01-01'::date, NULL::date);
