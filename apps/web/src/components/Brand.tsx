export function Brand() {
  return (
    <span className="brand">
      <svg className="brand-mark" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
        <rect width="32" height="32" rx="7" />
        <path d="M6 22l6-7 5 4 9-10" />
      </svg>
      <span className="brand-name">Tape Vision</span>
    </span>
  );
}
