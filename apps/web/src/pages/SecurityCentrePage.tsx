import { BlocklistSection } from '../components/security-centre/BlocklistSection.tsx';
import { IncidentsSection } from '../components/security-centre/IncidentsSection.tsx';
import { LockdownSection } from '../components/security-centre/LockdownSection.tsx';
import { SecurityAlertsSection } from '../components/security-centre/SecurityAlertsSection.tsx';

/**
 * The security officer's desk: live security alerts, incidents, the IP blocklist and the
 * lockdown controls, each a section of its own from components/security-centre/.
 */
export default function SecurityCentrePage() {
  return (
    <section className="page security-centre">
      <div className="page-head">
        <div>
          <h1>Security centre</h1>
          <p className="lead">What the platform detected, what it did about it, and the controls to do more.</p>
        </div>
      </div>
      <LockdownSection />
      <SecurityAlertsSection />
      <IncidentsSection />
      <BlocklistSection />
    </section>
  );
}
