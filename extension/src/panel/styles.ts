// Styles both panel files use, kept in one place so the panel's sections look alike.
import type { CSSProperties } from 'react';

export const sharedPanelStyles = {
  subtitle: {
    fontSize: 12,
    fontWeight: 600,
    color: '#a9c5e8',
    margin: '4px 0 0 0',
    textTransform: 'uppercase',
    letterSpacing: 0.5,
  },
  row: { display: 'flex', gap: 8, alignItems: 'center', flexWrap: 'wrap' },
  secondaryButton: {
    background: 'transparent',
    color: '#a9c5e8',
    border: '1px solid #3a4d66',
    borderRadius: 4,
    padding: '5px 10px',
    fontSize: 12,
    cursor: 'pointer',
  },
  note: { color: '#8aa0b8', fontSize: 11 },
  error: {
    color: '#ff8a80',
    background: 'rgba(255, 82, 82, 0.12)',
    padding: 8,
    borderRadius: 4,
    overflowWrap: 'anywhere',
  },
} satisfies Record<string, CSSProperties>;
