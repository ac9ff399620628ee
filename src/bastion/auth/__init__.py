"""Virtual keys: format and hashing, the key store, the auth step and the admin credential."""
