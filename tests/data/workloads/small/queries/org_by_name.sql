-- An organization by its name, for one that exists and one that does not.
--+ params.missing = ["no_org.name"]
SELECT id, name FROM organizations WHERE name = $1
