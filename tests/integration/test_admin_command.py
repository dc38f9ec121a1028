"""`make admin EMAIL=...` (python -m users.admin): the first admin without the shell,
against the running services."""

from users import admin

LAMP = {"name": "Lamp", "price": "30.00", "category": "home", "stock": 1}


def test_an_account_made_admin_by_email_can_do_what_admins_do(api, monkeypatch, capsys):
    user, before = api.user_with_token("ada")
    assert api.http.post("/products", headers=before, json=LAMP).status_code == 403
    monkeypatch.setenv("AMQP_URI", api.config["AMQP_URI"])  # config.yml reads it

    assert admin.main(["Ada@Example.com"]) == 0
    assert f"ada@example.com ({user['id']}) is now an admin" in capsys.readouterr().out
    after = {"Authorization": f"Bearer {api.sign_in('ada@example.com')}"}
    assert api.http.post("/products", headers=after, json=LAMP).status_code == 201


def test_an_unknown_or_malformed_email_is_refused_with_the_services_words(
        api, monkeypatch, capsys):
    monkeypatch.setenv("AMQP_URI", api.config["AMQP_URI"])
    assert admin.main(["nobody@example.com"]) == 1
    assert "NotFound: No account has the email nobody@example.com." in capsys.readouterr().err
    assert admin.main(["not an email"]) == 1
    assert "InvalidInput" in capsys.readouterr().err
