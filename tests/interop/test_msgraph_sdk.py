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
