export {
  encryptSecret,
  decryptSecret,
  isEncrypted,
  needsRotation,
  secretKeyId,
  SecretBoxError,
  MalformedSecretError,
  UnknownKeyIdError,
  TamperedSecretError,
  SECRET_VERSION,
  KEY_BYTES,
  type Keyring,
  type SecretErrorCode,
} from './secret-box.ts';
export { parseEncryptionKeys, loadEncryptionKeyring, loadKeyring, deriveKeyId, EncryptionConfigError, DEV_KEY_FILE, type KeySetting } from './keyring.ts';
export {
  isSecretField,
  sealSecrets,
  openSecrets,
  maskSecrets,
  mapSecretStrings,
  SECRET_MASK,
  MaskedSecretError,
  type SecretSlot,
} from './secret-fields.ts';
export { rotateSecret, rotateSecrets, type RotationResult } from './rotate.ts';
