"""Demo knowledge base: a few articles every MSP's clients asked for when they went home.

Written through kb.services by the demo's administrator, in both languages, on three
shelves with tags; all published for every client except one shared with Transportes
Hermanos Ruiz alone (its drivers' tablets), so the portal shows per-client visibility.
"""

from __future__ import annotations

from typing import Any

from atalaya.kb import services
from atalaya.kb.models import ArticleStatus, Category, Visibility

CATEGORIES = (
    ("remote-work", "Remote work", "Teletrabajo"),
    ("security", "Security", "Seguridad"),
    ("devices", "Devices and backups", "Equipos y copias"),
)

# (category, tags, title_en, body_en, title_es, body_es)
ARTICLES: tuple[tuple[str, tuple[str, ...], str, str, str, str], ...] = (
    (
        "remote-work",
        ("home office", "vpn", "wifi"),
        "Working from home securely",
        """Working from home is safe when the basics are right:

1. **Use your work laptop for work.** Family PCs are shared, rarely updated and not
   covered by our antivirus.
2. **Connect through the company VPN** before you open shared folders or the
   accounting program. See *Setting up the VPN*.
3. **Secure your home Wi-Fi**: change the router's default password and use WPA2 or
   WPA3.
4. **Lock the screen** (Windows + L, or Control + Command + Q on a Mac) whenever you
   step away.
5. **Keep updates on.** Restart when Windows or macOS asks you to.

If something looks wrong, open a ticket from the portal or call us: every call
becomes a ticket, so nothing is lost.""",
        "Teletrabajar de forma segura",
        """Trabajar desde casa es seguro si lo básico está bien hecho:

1. **Use el portátil de la empresa para trabajar.** Los PC familiares se comparten,
   casi nunca se actualizan y no los cubre nuestro antivirus.
2. **Conéctese por la VPN de la empresa** antes de abrir carpetas compartidas o el
   programa de contabilidad. Vea *Configurar la VPN*.
3. **Proteja la wifi de casa**: cambie la contraseña de fábrica del router y use WPA2
   o WPA3.
4. **Bloquee la pantalla** (Windows + L, o Control + Comando + Q en un Mac) cada vez
   que se levante.
5. **Mantenga las actualizaciones activadas.** Reinicie cuando Windows o macOS se lo
   pidan.

Si algo le parece raro, abra un ticket desde el portal o llámenos: cada llamada se
convierte en un ticket y no se pierde nada.""",
    ),
    (
        "remote-work",
        ("vpn", "windows", "macos"),
        "Setting up the VPN on Windows and macOS",
        """You need the VPN to reach the office's shared folders and programs from home.

## Windows 10 and 11

1. Open the portal, *Help articles*, and download the VPN client we sent you, or
   install *WireGuard* from the Microsoft Store.
2. Open WireGuard, choose **Import tunnel(s) from file** and pick the `.conf` file
   from our e-mail.
3. Click **Activate**. The status turns green.

## macOS

1. Install **WireGuard** from the App Store.
2. Click the WireGuard icon in the menu bar, **Import Tunnel(s) from File…**, and pick
   the `.conf` file.
3. Allow the VPN configuration when macOS asks, then **Activate**.

## It does not connect

| Symptom | Try |
|---|---|
| Handshake never completes | Another network (mobile hotspot): some hotel Wi-Fi blocks VPNs |
| Connected but no folders | Sign out and in again; the folders map at sign-in |
| Very slow | Pause large downloads at home; video calls do not need the VPN |

Still stuck? Open a ticket with a screenshot of the WireGuard window.""",
        "Configurar la VPN en Windows y macOS",
        """Necesita la VPN para llegar desde casa a las carpetas y programas de la oficina.

## Windows 10 y 11

1. Abra el portal, *Artículos de ayuda*, y descargue el cliente de VPN que le
   enviamos, o instale *WireGuard* desde Microsoft Store.
2. Abra WireGuard, elija **Importar túnel(es) desde archivo** y seleccione el archivo
   `.conf` de nuestro correo.
3. Pulse **Activar**. El estado se pone en verde.

## macOS

1. Instale **WireGuard** desde el App Store.
2. Pulse el icono de WireGuard en la barra de menús, **Importar túneles desde
   archivo…**, y elija el archivo `.conf`.
3. Permita la configuración de VPN cuando macOS lo pida y pulse **Activar**.

## No conecta

| Síntoma | Pruebe |
|---|---|
| El saludo no termina | Otra red (datos del móvil): algunas wifis de hotel bloquean las VPN |
| Conecta, pero sin carpetas | Cierre sesión y entre de nuevo; las carpetas se conectan al entrar |
| Va muy lenta | Pause las descargas grandes en casa; las videollamadas no necesitan la VPN |

¿Sigue sin funcionar? Abra un ticket con una captura de la ventana de WireGuard.""",
    ),
    (
        "security",
        ("phishing", "email", "office 365"),
        "Recognising phishing",
        """Phishing mails pretend to be Microsoft, your bank, a courier or a colleague to
get your password or a payment. Before you click, check:

- **The sender's address**, not just the name: `microsoft@outlook-security.example`
  is not Microsoft.
- **Urgency and threats**: "your mailbox will be deleted today".
- **Links**: hover over them; the address shown at the bottom must be the real site.
- **Attachments you did not expect**, especially `.zip`, `.html` or Office files that
  ask you to "enable content".
- **Changed bank details** in an invoice: always confirm by phone on a number you
  already know.

Forward anything suspicious to our phishing mailbox, then delete it. If you already
typed your password, change it at once and call us: we check the account for you.""",
        "Reconocer el phishing",
        """Los correos de phishing se hacen pasar por Microsoft, su banco, una mensajería
o un compañero para conseguir su contraseña o un pago. Antes de pulsar, revise:

- **La dirección del remitente**, no solo el nombre:
  `microsoft@outlook-security.example` no es Microsoft.
- **Prisas y amenazas**: «su buzón se borrará hoy».
- **Los enlaces**: pase el ratón por encima; la dirección que aparece abajo debe ser
  la del sitio real.
- **Adjuntos que no esperaba**, sobre todo `.zip`, `.html` o documentos de Office que
  piden «habilitar contenido».
- **Cambios de cuenta bancaria** en una factura: confírmelos siempre por teléfono en
  un número que ya conozca.

Reenvíe lo sospechoso a nuestro buzón de phishing y bórrelo. Si ya escribió su
contraseña, cámbiela enseguida y llámenos: revisamos la cuenta por usted.""",
    ),
    (
        "security",
        ("mfa", "office 365", "authenticator"),
        "Enrolling in multi-factor authentication (MFA)",
        """With MFA a stolen password is not enough to enter your mailbox.

1. Install **Microsoft Authenticator** on your phone (App Store or Google Play).
2. On your computer, sign in at `https://aka.ms/mfasetup` with your work account.
3. Choose **Mobile app**, then **Next**: a QR code appears.
4. In Authenticator tap **+**, **Work or school account**, **Scan QR code**.
5. Approve the test notification.

Add a second method (your phone number) so you are not locked out if you change
phones. **Never approve a sign-in you did not start**: tell us at once.""",
        "Activar la autenticación multifactor (MFA)",
        """Con MFA una contraseña robada no basta para entrar en su correo.

1. Instale **Microsoft Authenticator** en el móvil (App Store o Google Play).
2. En el ordenador, entre en `https://aka.ms/mfasetup` con su cuenta de trabajo.
3. Elija **Aplicación móvil** y **Siguiente**: aparece un código QR.
4. En Authenticator pulse **+**, **Cuenta profesional o educativa**, **Escanear un
   código QR**.
5. Apruebe la notificación de prueba.

Añada un segundo método (su número de teléfono) para no quedarse fuera si cambia de
móvil. **Nunca apruebe un inicio de sesión que no haya hecho usted**: avísenos
enseguida.""",
    ),
    (
        "devices",
        ("backup", "laptop", "onedrive"),
        "Backing up your laptop",
        """Laptops get lost, stolen and break. Keep a copy of your work somewhere else:

- **Save work files in OneDrive or the shared folders**, not on the desktop only.
  Files in OneDrive show a cloud or a green tick in Explorer / Finder.
- **Our cloud backup** (if your company has it) copies the whole laptop every night
  while it is on and connected. Leave it on, plugged in, at least one night a week.
- **Check now and then**: open a file from OneDrive on the web
  (`https://portal.office.com`) to be sure it is really there.

A USB disk is better than nothing, but keep it apart from the laptop and encrypt it
(BitLocker To Go or FileVault).""",
        "Hacer copia de seguridad del portátil",
        """Los portátiles se pierden, se roban y se rompen. Guarde una copia de su trabajo
en otro sitio:

- **Guarde los archivos de trabajo en OneDrive o en las carpetas compartidas**, no
  solo en el escritorio. Los archivos de OneDrive muestran una nube o una marca verde
  en el Explorador / Finder.
- **Nuestra copia en la nube** (si su empresa la tiene) copia todo el portátil cada
  noche mientras está encendido y conectado. Déjelo encendido y enchufado al menos
  una noche por semana.
- **Compruébelo de vez en cuando**: abra un archivo de OneDrive en la web
  (`https://portal.office.com`) para asegurarse de que está.

Un disco USB es mejor que nada, pero guárdelo separado del portátil y cifrado
(BitLocker To Go o FileVault).""",
    ),
    (
        "devices",
        ("lost device", "laptop", "phone"),
        "Reporting a lost or stolen device",
        """If a laptop, phone or tablet with work data is lost or stolen:

1. **Call us at once**, day or night: the sooner we act, the less can leak. Say which
   device, when and where.
2. We **lock or wipe it remotely**, sign it out of the mailbox and reset its
   passwords.
3. If it was stolen, **report it to the police** and send us the report number:
   insurers ask for it.
4. Change the passwords of any personal account you used on it.

Losing personal data may have to be notified to the data protection authority within
72 hours (GDPR). We help you decide and keep the record.""",
        "Avisar de un equipo perdido o robado",
        """Si se pierde o le roban un portátil, móvil o tableta con datos de trabajo:

1. **Llámenos enseguida**, de día o de noche: cuanto antes actuemos, menos se puede
   filtrar. Díganos qué equipo, cuándo y dónde.
2. **Lo bloqueamos o borramos a distancia**, cerramos su sesión del correo y
   cambiamos sus contraseñas.
3. Si fue un robo, **denúncielo a la policía** y envíenos el número de denuncia: las
   aseguradoras lo piden.
4. Cambie las contraseñas de las cuentas personales que usara en él.

Perder datos personales puede obligar a notificarlo a la Agencia de Protección de
Datos en 72 horas (RGPD). Le ayudamos a decidir y guardamos el registro.""",
    ),
)

# Shared with one client only: the portal shows it to Transportes Hermanos Ruiz alone.
RUIZ_ONLY = (
    "remote-work",
    ("vpn", "tablet", "drivers"),
    "Drivers' tablets: reaching the route planner from the road",
    """The delivery tablets connect to the route planner in the Zaragoza warehouse
through the always-on VPN.

- The VPN starts by itself; a **key icon** in the status bar means it is up.
- No key icon: turn **mobile data** off and on again, then open the planner.
- The planner still does not load: restart the tablet (hold the power button, then
  **Restart**).

Call the help desk from the tablet's phone app if none of this works: your call opens
a ticket with the tablet's name.""",
    "Tabletas de los conductores: acceder al planificador de rutas en ruta",
    """Las tabletas de reparto se conectan al planificador de rutas de la nave de
Zaragoza por la VPN siempre activa.

- La VPN arranca sola; un **icono de llave** en la barra de estado indica que está
  conectada.
- Sin icono de llave: desactive y vuelva a activar los **datos móviles** y abra el
  planificador.
- El planificador sigue sin cargar: reinicie la tableta (mantenga pulsado el botón de
  encendido y **Reiniciar**).

Si nada de esto funciona, llame al soporte desde la aplicación de teléfono de la
tableta: la llamada abre un ticket con el nombre de la tableta.""",
)


def load_knowledge(loader: Any, seed: int) -> None:
    """Write the demo's shelves and articles as the administrator, published."""
    admin = loader.users["admin"]
    # A shelf the MSP already made under the same slug is used as it is.
    shelves = {
        slug: Category.objects.filter(slug=slug).first()
        or services.create_category(actor=admin, slug=slug, name_en=en, name_es=es)
        for slug, en, es in CATEGORIES
    }
    for category, tags, title_en, body_en, title_es, body_es in ARTICLES:
        services.create_article(
            actor=admin,
            title_en=title_en,
            body_en=body_en,
            title_es=title_es,
            body_es=body_es,
            category=shelves[category],
            tags=tags,
            status=ArticleStatus.PUBLISHED,
        )
    category, tags, title_en, body_en, title_es, body_es = RUIZ_ONLY
    ruiz = loader.clients.get("ruiz")
    services.create_article(
        actor=admin,
        title_en=title_en,
        body_en=body_en,
        title_es=title_es,
        body_es=body_es,
        category=shelves[category],
        tags=tags,
        status=ArticleStatus.PUBLISHED if ruiz else ArticleStatus.DRAFT,
        visibility=Visibility.CLIENTS if ruiz else Visibility.PUBLIC,
        clients=[ruiz] if ruiz else [],
    )
    loader.progress(f"{len(ARTICLES) + 1} knowledge base articles")
