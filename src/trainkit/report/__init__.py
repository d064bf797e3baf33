"""What a run leaves for people: summary.json, the HPARAMS tab, the console table, figures."""
