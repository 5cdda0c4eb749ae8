"""msgraph-sdk (kiota, httpx) driving the Graph-shaped admin API, authenticated by azure.identity.aio."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any, Awaitable, Callable

import pytest
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphServiceClient
from msgraph.generated.models.application import Application
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter

from conftest import GRAPH_SCOPE


def run_with_graph(
    base: str, bootstrap: dict[str, Any], ca: str, body: Callable[[GraphServiceClient], Awaitable[Any]]
) -> Any:
    """Build a GraphServiceClient pointed at {base}/v1.0 inside a fresh event loop and run body(client)."""
    assert ca  # the `ca` fixture exported SSL_CERT_FILE for aiohttp and httpx

    async def main() -> Any:
        credential = ClientSecretCredential(
            bootstrap["tenantId"],
            bootstrap["clientId"],
            bootstrap["clientSecret"],
            authority=base,
            disable_instance_discovery=True,
        )
        try:
            adapter = GraphRequestAdapter(
                AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE])
            )
            adapter.base_url = f"{base}/v1.0"  # before the client is built (R13)
            client = GraphServiceClient(request_adapter=adapter)
            return await body(client)
        finally:
            await credential.close()

    return asyncio.run(main())


def test_users_and_groups(base, bootstrap, ca):
    domain = bootstrap["tenantDomain"]
    nick = f"interop{secrets.token_hex(4)}"
    upn = f"{nick}@{domain}"

    async def scenario(client: GraphServiceClient) -> None:
        created = await client.users.post(
            User(
                account_enabled=True,
                display_name="Interop User",
                mail_nickname=nick,
                user_principal_name=upn,
                password_profile=PasswordProfile(
                    force_change_password_next_sign_in=False,
                    password=f"Interop-{secrets.token_urlsafe(12)}-9a!",
                ),
            )
        )
        assert isinstance(created, User) and created.id
        uid = created.id
        assert created.user_principal_name == upn

        fetched = await client.users.by_user_id(uid).get()
        assert fetched is not None and fetched.id == uid and fetched.display_name == "Interop User"

        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=f"userPrincipalName eq '{upn}'"
        )
        listed = await client.users.get(request_configuration=RequestConfiguration(query_parameters=query))
        assert listed is not None and [u.id for u in listed.value] == [uid]

        await client.users.by_user_id(uid).patch(User(display_name="Interop User (renamed)"))
        fetched = await client.users.by_user_id(uid).get()
        assert fetched.display_name == "Interop User (renamed)"

        group = await client.groups.post(
            Group(
                display_name="Interop Group",
                mail_enabled=False,
                mail_nickname=f"grp{secrets.token_hex(4)}",
                security_enabled=True,
            )
        )
        assert isinstance(group, Group) and group.id
        await client.groups.by_group_id(group.id).members.ref.post(
            ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{uid}")
        )
        members = await client.groups.by_group_id(group.id).members.get()
        assert members is not None
        # kiota picks the model class from "@odata.type" (R14): the member must come back as a User.
        users = [m for m in members.value if isinstance(m, User)]
        assert [u.id for u in users] == [uid], [type(m).__name__ for m in members.value]

        await client.users.by_user_id(uid).delete()
        with pytest.raises(ODataError) as err:
            await client.users.by_user_id(uid).get()
        assert err.value.response_status_code == 404
        assert err.value.error is not None and err.value.error.code == "Request_ResourceNotFound"

        await client.groups.by_group_id(group.id).delete()

    run_with_graph(base, bootstrap, ca, scenario)


def test_applications(base, bootstrap, ca):
    name = f"Interop SDK App {secrets.token_hex(4)}"

    async def scenario(client: GraphServiceClient) -> None:
        app = await client.applications.post(Application(display_name=name))
        assert isinstance(app, Application) and app.id and app.app_id
        listed = await client.applications.get()
        assert listed is not None
        assert app.id in [a.id for a in listed.value]
        got = await client.applications.by_application_id(app.id).get()
        assert got is not None and got.display_name == name and got.app_id == app.app_id
        await client.applications.by_application_id(app.id).delete()

    run_with_graph(base, bootstrap, ca, scenario)


def test_audit_logs(base, bootstrap, ca):
    """msgraph-sdk reads the sign-in and directory-audit logs into its typed models, with $filter."""
    import requests
    from msgraph.generated.audit_logs.directory_audits.directory_audits_request_builder import (
        DirectoryAuditsRequestBuilder,
    )
    from msgraph.generated.audit_logs.sign_ins.sign_ins_request_builder import SignInsRequestBuilder
    from msgraph.generated.models.directory_audit import DirectoryAudit
    from msgraph.generated.models.sign_in import SignIn

    correlation = f"interop-{secrets.token_hex(6)}"
    r = requests.post(
        f"{base}/{bootstrap['tenantId']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": bootstrap["clientId"],
            "client_secret": "definitely-wrong",
            "scope": GRAPH_SCOPE,
        },
        headers={"client-request-id": correlation},
        timeout=30,
    )
    assert r.status_code == 401 and r.json()["error_codes"] == [7000215]
    nick = f"audit{secrets.token_hex(4)}"

    async def scenario(client: GraphServiceClient) -> None:
        await client.users.post(
            User(
                account_enabled=True,
                display_name="Audited User",
                mail_nickname=nick,
                user_principal_name=f"{nick}@{bootstrap['tenantDomain']}",
                password_profile=PasswordProfile(
                    force_change_password_next_sign_in=False, password=f"Audit-{secrets.token_urlsafe(12)}-9a!"
                ),
            )
        )
        # Sign-in records are written in batches: allow a moment.
        sign_ins: list[SignIn] = []
        for _ in range(50):
            page = await client.audit_logs.sign_ins.get(
                request_configuration=RequestConfiguration(
                    query_parameters=SignInsRequestBuilder.SignInsRequestBuilderGetQueryParameters(
                        filter=f"correlationId eq '{correlation}'", top=10
                    )
                )
            )
            sign_ins = page.value or []
            if sign_ins:
                break
            await asyncio.sleep(0.1)
        assert len(sign_ins) == 1
        s = sign_ins[0]
        assert isinstance(s, SignIn)
        assert s.status is not None and s.status.error_code == 7000215
        assert s.app_id == bootstrap["clientId"]
        assert s.correlation_id == correlation
        assert s.is_interactive is False
        assert s.created_date_time is not None

        failures = await client.audit_logs.sign_ins.get(
            request_configuration=RequestConfiguration(
                query_parameters=SignInsRequestBuilder.SignInsRequestBuilderGetQueryParameters(
                    filter="status/errorCode eq 7000215", top=5
                )
            )
        )
        assert failures.value and all(x.status.error_code == 7000215 for x in failures.value)

        one = await client.audit_logs.sign_ins.by_sign_in_id(s.id).get()
        assert one is not None and one.id == s.id

        audits = await client.audit_logs.directory_audits.get(
            request_configuration=RequestConfiguration(
                query_parameters=DirectoryAuditsRequestBuilder.DirectoryAuditsRequestBuilderGetQueryParameters(
                    filter="activityDisplayName eq 'Add user'", top=100
                )
            )
        )
        mine = [
            a
            for a in audits.value or []
            if any((t.user_principal_name or "").startswith(nick) for t in a.target_resources or [])
        ]
        assert len(mine) == 1
        a = mine[0]
        assert isinstance(a, DirectoryAudit)
        assert a.category == "UserManagement" and a.result is not None
        assert a.initiated_by is not None and a.initiated_by.app is not None
        assert a.initiated_by.app.app_id == bootstrap["clientId"]

        with pytest.raises(ODataError) as err:
            await client.audit_logs.sign_ins.get(
                request_configuration=RequestConfiguration(
                    query_parameters=SignInsRequestBuilder.SignInsRequestBuilderGetQueryParameters(
                        filter="ipAddress eq '1.2.3.4'"
                    )
                )
            )
        assert err.value.response_status_code == 400

    run_with_graph(base, bootstrap, ca, scenario)
