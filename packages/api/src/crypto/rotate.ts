import { decryptSecret, encryptSecret, isEncrypted, needsRotation, type Keyring } from './secret-box.ts';
import { mapSecretStrings } from './secret-fields.ts';

/**
 * One stored value under the active key: returned as it is when already current, otherwise
 * re-encrypted with the same `aad`. Every value is opened first and a `SecretBoxError` thrown if it
 * does not open, so a rotation run also finds the values that no longer can.
 */
export function rotateSecret(keyring: Keyring, stored: string, aad = ''): string {
  const plaintext = decryptSecret(keyring, stored, aad);
  return needsRotation(keyring, stored) ? encryptSecret(keyring, plaintext, aad) : stored;
}

export interface RotationResult<T> {
  value: T;
  /** Values re-encrypted under the active key, plus plaintext secrets sealed for the first time. */
  changed: number;
}

/**
 * Rotate every encrypted value in a sealed object (same `aadPrefix` as `sealSecrets`), and seal
 * any secret still in plaintext, such as one stored before its name was recognised as secret.
 * Pure: the rotation command writes a row back only when `changed > 0`.
 */
export function rotateSecrets<T>(keyring: Keyring, sealed: T, aadPrefix: string): RotationResult<T> {
  let changed = 0;
  const value = mapSecretStrings(sealed, aadPrefix, (text, slot) => {
    if (isEncrypted(text)) {
      const rotated = rotateSecret(keyring, text, slot.aad);
      if (rotated !== text) changed++;
      return rotated;
    }
    if (!slot.secret || text === '') return text;
    changed++;
    return encryptSecret(keyring, text, slot.aad);
  });
  return { value, changed };
}
