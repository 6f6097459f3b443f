import { Link } from 'react-router';

export function NotFoundPage() {
  return (
    <section className="page narrow">
      <h1>Page not found</h1>
      <p>There is nothing at this address.</p>
      <p>
        <Link to="/">Back to the home page</Link>
      </p>
    </section>
  );
}
