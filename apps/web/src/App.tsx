import { QueryClientProvider } from '@tanstack/react-query';
import { lazy, Suspense } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { AuthProvider } from './auth/AuthProvider.tsx';
import { useAuth } from './auth/use-auth.ts';
import { Layout } from './components/Layout.tsx';
import { Loading } from './components/Loading.tsx';
import { RequirePermission } from './components/RequirePermission.tsx';
import { useMe } from './lib/use-me.ts';
import { HomePage } from './pages/HomePage.tsx';
import { LoginPage } from './pages/LoginPage.tsx';
import { NotFoundPage } from './pages/NotFoundPage.tsx';
import { SessionsPage } from './pages/SessionsPage.tsx';
import { queryClient, trpc, trpcClient } from './trpc.ts';

// These two validate passwords with the server's own schema, whose dictionaries are large:
// they load only when needed.
const ChangePasswordPage = lazy(() => import('./pages/ChangePasswordPage.tsx'));
const UsersPage = lazy(() => import('./pages/UsersPage.tsx'));
// Validates with the server's schema module too.
const ApiKeysPage = lazy(() => import('./pages/ApiKeysPage.tsx'));
// Admin-only pages with their own large dependencies (a virtual list; charts): loaded on demand.
const AuditPage = lazy(() => import('./pages/AuditPage.tsx'));
const SecurityReportPage = lazy(() => import('./pages/SecurityReportPage.tsx'));
// A chart, a virtual list and the order schema: loaded once signed in.
const DashboardPage = lazy(() => import('./pages/DashboardPage.tsx'));
const BotsPage = lazy(() => import('./pages/BotsPage.tsx'));
const SecurityCentrePage = lazy(() => import('./pages/SecurityCentrePage.tsx'));

export function App() {
  return (
    <trpc.Provider client={trpcClient} queryClient={queryClient}>
      <QueryClientProvider client={queryClient}>
        <AuthProvider>
          <BrowserRouter>
            <AppRoutes />
          </BrowserRouter>
        </AuthProvider>
      </QueryClientProvider>
    </trpc.Provider>
  );
}

interface FromState {
  from?: string;
}

function RedirectToLogin() {
  const location = useLocation();
  return <Navigate to="/login" replace state={{ from: `${location.pathname}${location.search}` } satisfies FromState} />;
}

function LeaveLogin() {
  const location = useLocation();
  const from = (location.state as FromState | null)?.from;
  return <Navigate to={from && from !== '/login' ? from : '/'} replace />;
}

/** Those who may watch the market land on the dashboard; everyone else on the welcome page. */
function Landing() {
  const me = useMe();
  if (me.isPending) return <Loading label="Loading…" />;
  if (me.data?.permissions.includes('trading.view')) {
    return (
      <Suspense fallback={<Loading label="Loading the dashboard…" />}>
        <DashboardPage />
      </Suspense>
    );
  }
  return <HomePage />;
}

function AppRoutes() {
  const auth = useAuth();

  if (auth.status === 'restoring') return <Loading label="Restoring your session…" fullPage />;

  if (auth.status === 'signedOut') {
    return (
      <Routes>
        <Route path="/login" element={<LoginPage notice={auth.notice} />} />
        <Route path="*" element={<RedirectToLogin />} />
      </Routes>
    );
  }

  // Until the password is changed the server refuses everything else: show nothing else.
  if (auth.user.mustChangePassword) {
    return (
      <Suspense fallback={<Loading label="Loading…" fullPage />}>
        <ChangePasswordPage />
      </Suspense>
    );
  }

  return (
    <Routes>
      <Route path="/login" element={<LeaveLogin />} />
      <Route element={<Layout />}>
        <Route index element={<Landing />} />
        <Route
          path="sessions"
          element={
            <RequirePermission permission="account.self">
              <SessionsPage />
            </RequirePermission>
          }
        />
        <Route
          path="users"
          element={
            <RequirePermission permission="users.manage">
              <Suspense fallback={<Loading label="Loading users…" />}>
                <UsersPage />
              </Suspense>
            </RequirePermission>
          }
        />
        <Route
          path="api-keys"
          element={
            <RequirePermission permission="apikeys.manage">
              <Suspense fallback={<Loading label="Loading API keys…" />}>
                <ApiKeysPage />
              </Suspense>
            </RequirePermission>
          }
        />
        <Route
          path="audit"
          element={
            <RequirePermission permission="logs.view">
              <Suspense fallback={<Loading label="Loading the audit log…" />}>
                <AuditPage />
              </Suspense>
            </RequirePermission>
          }
        />
        <Route
          path="security"
          element={
            <RequirePermission permission="logs.view">
              <Suspense fallback={<Loading label="Loading the security report…" />}>
                <SecurityReportPage />
              </Suspense>
            </RequirePermission>
          }
        />
        <Route
          path="bots"
          element={
            <RequirePermission permission="bots.read">
              <Suspense fallback={<Loading label="Loading bots…" />}>
                <BotsPage />
              </Suspense>
            </RequirePermission>
          }
        />
        <Route
          path="security-centre"
          element={
            <RequirePermission permission="security.manage">
              <Suspense fallback={<Loading label="Loading the security centre…" />}>
                <SecurityCentrePage />
              </Suspense>
            </RequirePermission>
          }
        />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
