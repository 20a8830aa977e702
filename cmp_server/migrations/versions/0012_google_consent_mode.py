"""a draft's Google Consent Mode setting (basic or advanced, ads data redaction, URL
passthrough); empty means the defaults (basic, both off)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('draft_configs') as batch:
        batch.add_column(sa.Column(
            'google_consent_mode',
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=False, server_default='{}'))


def downgrade():
    with op.batch_alter_table('draft_configs') as batch:
        batch.drop_column('google_consent_mode')
