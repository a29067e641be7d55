/** The three imaging modalities of a station, in the fixed order used by every tensor and record. */
export const MODALITIES = ['visible', 'infrared', 'xray'] as const;
export type Modality = (typeof MODALITIES)[number];

/** What each modality delivers: visible is 8-bit RGB, the others 16-bit single-channel linear counts. */
export const MODALITY_FORMAT: Record<Modality, { channels: 1 | 3; depth: 8 | 16 }> = {
  visible: { channels: 3, depth: 8 },
  infrared: { channels: 1, depth: 16 },
  xray: { channels: 1, depth: 16 },
};

export function isModality(s: string): s is Modality {
  return (MODALITIES as readonly string[]).includes(s);
}
