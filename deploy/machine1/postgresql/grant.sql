-- After the first `heartguard migrate`: the services' login role gets the application role's rights.
grant heartguard_app to heartguard_svc;
