DROP TABLE emission_factors;
