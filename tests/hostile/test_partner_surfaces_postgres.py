"""The partner-surfaces tests whose outcome lives in the store (the ledger, drop_seen, deliveries, the audit
trail), on PostgreSQL: a module of its own so that a parallel worker runs it beside the SQLite one."""

from tests.hostile.test_partner_surfaces import (  # noqa: F401  (the same tests, collected here again)
    site,
    test_a_file_where_our_receipts_folder_goes_never_wedges_the_feed,
    test_a_touched_drop_is_not_examined_again_until_its_bytes_change,
    test_load_duplicate_loads_the_one_drop_it_names,
    test_resend_replaces_a_delivery_its_recipient_rewrote,
)

DATABASE = "postgres"
