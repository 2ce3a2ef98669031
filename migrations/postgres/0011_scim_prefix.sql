-- SCIM `userName sw "x"`: a prefix LIKE is an index range only on a "C"-collated btree (the
-- unique key's default collation, e.g. en_US or C.UTF-8, does not qualify).
CREATE INDEX scim_users_name_prefix_idx ON scim_users (tenant_id, user_name_norm COLLATE "C");
