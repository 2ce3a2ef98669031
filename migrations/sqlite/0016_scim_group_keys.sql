-- The names and externalIds SCIM groups map to roles by. A key (lower-cased) belongs to the first
-- group of the tenant that bore it, and stays with that group when it is renamed or deleted: an
-- IdP group renamed to a mapped name, or a new group created under one, gains no role. A group
-- created with the externalId of a deleted owner is that IdP group again and takes its keys
-- back. An admin releases a key to whichever group bears it now (DELETE /api/scim/group-keys).
CREATE TABLE scim_group_keys (
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    group_key         TEXT NOT NULL,
    group_id          TEXT NOT NULL,
    owner_external_id TEXT,
    claimed_at        BIGINT NOT NULL,
    CONSTRAINT scim_group_keys_pkey PRIMARY KEY (tenant_id, group_key)
);
CREATE INDEX scim_group_keys_group_idx ON scim_group_keys (group_id);
CREATE INDEX scim_group_keys_external_idx ON scim_group_keys (tenant_id, owner_external_id);

-- Groups that exist already own their names, then their externalIds.
INSERT INTO scim_group_keys (tenant_id, group_key, group_id, owner_external_id, claimed_at)
    SELECT tenant_id, display_name_norm, id, external_id, created_at FROM groups WHERE true
    ON CONFLICT DO NOTHING;
INSERT INTO scim_group_keys (tenant_id, group_key, group_id, owner_external_id, claimed_at)
    SELECT tenant_id, LOWER(external_id), id, external_id, created_at FROM groups
    WHERE external_id IS NOT NULL AND external_id <> ''
    ON CONFLICT DO NOTHING;
