DROP TABLE cycles;
DROP TABLE modules;
