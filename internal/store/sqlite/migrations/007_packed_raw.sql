-- Events' JSON is archived packed from this version on (store/rawpack: a
-- marker byte, a dictionary number, a CRC-32C and an S2 block); rows stored
-- before stay plain and read as they are. No table changes: this step is
-- here so that an older vigil refuses the database (its schema is too new)
-- instead of reading packed rows as JSON.
SELECT 1;
